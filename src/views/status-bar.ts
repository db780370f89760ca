import * as vscode from 'vscode';
import { statusBarModel } from '../kgpu/model/status-bar-model';
import type { KgpuServices } from '../platform/services';
import { telemetryFor } from '../platform/telemetry-hub';

/** "$(chip) 2 GPUs · $1.34/h · 5h12m left" while pods run; warning background under 1 h left;
 *  click shows the sidebar. The estimate is redrawn every minute between refreshes. */
export function registerStatusBar(services: KgpuServices): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('kgpu.cost', vscode.StatusBarAlignment.Left, 50);
  item.name = vscode.l10n.t('kgpu cost');
  item.command = { title: vscode.l10n.t('Show kgpu'), command: 'workbench.view.extension.kgpu' };
  const update = (): void => {
    const m = services.auth.signedIn
      ? statusBarModel(services.pods.pods, services.pods.me, services.pods.lastRefreshAt, Date.now())
      : undefined;
    if (!m) {
      item.hide();
      return;
    }
    item.text = m.text;
    const telemetry = telemetryFor(services);
    const gpus = services.pods.pods.flatMap((p) => telemetry.lines(p.pod_id).map((l) => `${p.name} · ${l}`));
    const tooltip = new vscode.MarkdownString(gpus.length ? `${m.tooltip}\n\n${gpus.join('  \n')}` : m.tooltip);
    tooltip.supportThemeIcons = true;
    item.tooltip = tooltip;
    item.backgroundColor = m.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    item.show();
  };
  update();
  const tick = setInterval(update, 60_000);
  tick.unref?.();
  return vscode.Disposable.from(
    item,
    telemetryFor(services).onDidChange(update),
    services.pods.onDidChange(update),
    services.auth.onDidChange(update),
    { dispose: () => clearInterval(tick) },
    // Tests and diagnostics (not in the palette): the item's tooltip as shown.
    vscode.commands.registerCommand('kgpu._statusBarTooltip', () =>
      item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : item.tooltip,
    ),
  );
}

import * as vscode from 'vscode';
import { sweepMetricNames, sweepRow, sweepRunRows, type SweepRunRow, type SweepSort } from '../kgpu/sweeps/sweep-view-model';
import type { SweepPlan } from '../kgpu/sweeps/sweep';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import type { KgpuServices } from '../platform/services';
import { sweepsFor } from './sweeps-hub';

/**
 * The Sweeps view (issue 23): a row per sweep (progress, cost so far) with a row per run — its
 * arguments, state, duration, cost and the last value of each metric — sorted as chosen
 * (kgpu: Sort Sweep Runs…); a run's row opens its log; Stop Sweep; Clear Sweep for an ended one.
 * `kgpu.sweepRows` (tests) returns the rows of a sweep as the view shows them.
 */
type Node = { kind: 'sweep'; plan: SweepPlan } | { kind: 'run'; plan: SweepPlan; row: SweepRunRow };

const STATE_ICONS: Record<SweepRunRow['state'], [string, string | undefined]> = {
  queued: ['clock', undefined],
  running: ['sync~spin', 'charts.yellow'],
  succeeded: ['pass', 'charts.green'],
  failed: ['error', 'charts.red'],
  stopped: ['debug-stop', undefined],
};

export function registerSweepsView(services: KgpuServices): vscode.Disposable {
  const hub = sweepsFor(services);
  const sorts = new Map<string, SweepSort>();
  const emitter = new vscode.EventEmitter<Node | undefined>();
  const provider: vscode.TreeDataProvider<Node> = {
    onDidChangeTreeData: emitter.event,
    getChildren: (node) => {
      if (!node) return hub.plans().map((plan) => ({ kind: 'sweep' as const, plan }));
      if (node.kind === 'sweep')
        return sweepRunRows(node.plan, sorts.get(node.plan.id)).map((row) => ({ kind: 'run' as const, plan: node.plan, row }));
      return [];
    },
    getTreeItem: (node) => {
      if (node.kind === 'sweep') {
        const r = sweepRow(node.plan);
        const item = new vscode.TreeItem(r.label, vscode.TreeItemCollapsibleState.Expanded);
        item.id = node.plan.id;
        item.description = r.description;
        item.contextValue = r.contextValue;
        item.iconPath = new vscode.ThemeIcon(node.plan.state === 'running' ? 'beaker' : 'beaker-stop');
        return item;
      }
      const item = new vscode.TreeItem(node.row.label, vscode.TreeItemCollapsibleState.None);
      item.id = `${node.plan.id}/${node.row.index}`;
      item.description = node.row.description;
      item.tooltip = node.row.tooltip;
      item.contextValue = node.row.contextValue;
      const [icon, colour] = STATE_ICONS[node.row.state];
      item.iconPath = new vscode.ThemeIcon(icon, colour ? new vscode.ThemeColor(colour) : undefined);
      if (node.row.podId && node.row.jobId)
        item.command = { command: 'kgpu.openSweepRunLog', title: vscode.l10n.t('Open Log'), arguments: [node] };
      return item;
    },
  };
  const view = vscode.window.createTreeView('kgpu.sweeps', { treeDataProvider: provider, showCollapseAll: true });
  /** A sweep row's or run row's plan, `{sweepId}`'s, else the running (or latest) sweep's. */
  const planOf = (arg: unknown): SweepPlan | undefined => {
    const o = optionsOf(decodeCommandArgs(arg)) as { plan?: SweepPlan; sweepId?: unknown };
    if (o.plan && typeof o.plan === 'object') return o.plan;
    const id = o.sweepId !== undefined ? String(o.sweepId) : undefined;
    const plans = hub.plans();
    return id ? plans.find((p) => p.id === id) : (plans.find((p) => p.state === 'running') ?? plans[0]);
  };
  return vscode.Disposable.from(
    view,
    emitter,
    hub,
    hub.onDidChange(() => emitter.fire(undefined)),
    vscode.commands.registerCommand('kgpu.openSweepRunLog', async (arg?: unknown) => {
      const node = optionsOf(decodeCommandArgs(arg)) as Partial<Extract<Node, { kind: 'run' }>>;
      if (node.kind !== 'run' || !node.row?.podId || !node.row.jobId) return undefined;
      return vscode.commands.executeCommand('kgpu.showJobLog', {
        podId: node.row.podId,
        jobId: node.row.jobId,
        from: 'start',
        reveal: true,
      });
    }),
    vscode.commands.registerCommand('kgpu.stopSweep', async (arg?: unknown) => {
      const plan = planOf(arg);
      const sweep = plan && hub.get(plan.id);
      if (!plan || !sweep?.isRunning) {
        void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: no sweep is running.'));
        return false;
      }
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: stopping the sweep {0}…', plan.name) },
        () => sweep.stop(),
      );
      return true;
    }),
    vscode.commands.registerCommand('kgpu.clearSweep', (arg?: unknown) => {
      const plan = planOf(arg);
      if (plan && plan.state !== 'running') hub.forget(plan.id);
    }),
    vscode.commands.registerCommand('kgpu.sortSweepRuns', async (arg?: unknown) => {
      const plan = planOf(arg);
      if (!plan) return undefined;
      let sort = (optionsOf(decodeCommandArgs(arg)) as { sort?: SweepSort }).sort;
      if (!sort) {
        const items: (vscode.QuickPickItem & { sort: SweepSort })[] = [
          { label: vscode.l10n.t('Run order'), sort: { by: 'index' } },
          ...sweepMetricNames(plan).flatMap((m) => [
            { label: `${m} ↑`, description: vscode.l10n.t('lowest first'), sort: { by: 'metric' as const, metric: m } },
            { label: `${m} ↓`, description: vscode.l10n.t('highest first'), sort: { by: 'metric' as const, metric: m, descending: true } },
            {
              label: vscode.l10n.t('best {0} ↑', m),
              description: vscode.l10n.t('lowest best first'),
              sort: { by: 'metric' as const, metric: m, best: true },
            },
            {
              label: vscode.l10n.t('best {0} ↓', m),
              description: vscode.l10n.t('highest best first'),
              sort: { by: 'metric' as const, metric: m, best: true, descending: true },
            },
          ]),
          { label: vscode.l10n.t('Duration'), sort: { by: 'duration' } },
          { label: vscode.l10n.t('Cost'), sort: { by: 'cost' } },
        ];
        sort = (await vscode.window.showQuickPick(items, { title: vscode.l10n.t('Sort the runs of {0} by', plan.name) }))?.sort;
      }
      if (!sort) return undefined;
      sorts.set(plan.id, sort);
      emitter.fire(undefined);
      return sort;
    }),
    vscode.commands.registerCommand('kgpu.sweepRows', (arg?: unknown) => {
      const plan = planOf(arg);
      return plan ? { sweep: sweepRow(plan), runs: sweepRunRows(plan, sorts.get(plan.id)) } : undefined;
    }),
  );
}

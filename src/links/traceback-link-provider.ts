import * as vscode from 'vscode';
import { findTracebackLinks, resolveLinkTarget } from '../kgpu/links/traceback-links';
import { podUri } from '../platform/pod-uri';
import type { KgpuServices } from '../platform/services';
import { podTerminalInfo, type PodTerminalInfo } from '../platform/pod-terminals';

interface TracebackTerminalLink extends vscode.TerminalLink {
  path: string;
  line?: number;
  info: PodTerminalInfo;
}

/**
 * `File "/workspace/proj/train.py", line 42` in a job log (or a kgpu task's terminal) is a link:
 * to the local file at that line when the pod's copy was synced from one, else to the pod's file
 * (kgpu://). The matching and the mapping live in src/kgpu/links/traceback-links.ts.
 */
export class TracebackLinkProvider implements vscode.TerminalLinkProvider<TracebackTerminalLink> {
  constructor(private readonly services: KgpuServices) {}

  provideTerminalLinks(context: vscode.TerminalLinkContext): TracebackTerminalLink[] {
    const info = podTerminalInfo(this.services, context.terminal);
    if (!info) return [];
    return findTracebackLinks(context.line).map((l) => ({
      startIndex: l.startIndex,
      length: l.length,
      tooltip: l.line ? vscode.l10n.t('Open {0} at line {1}', l.path, l.line) : vscode.l10n.t('Open {0}', l.path),
      path: l.path,
      line: l.line,
      info,
    }));
  }

  async handleTerminalLink(link: TracebackTerminalLink): Promise<void> {
    const uri = await this.uriFor(link);
    if (!uri) return;
    const line = Math.max(0, (link.line ?? 1) - 1);
    try {
      await vscode.window.showTextDocument(uri, { selection: new vscode.Range(line, 0, line, 0), preview: true });
    } catch (e) {
      this.services.showError(e, { prefix: vscode.l10n.t('Could not open {0}:', link.path) });
    }
  }

  /** The editor URI a link opens (exported through the services for the tests). */
  async uriFor(link: Pick<TracebackTerminalLink, 'path' | 'line' | 'info'>): Promise<vscode.Uri | undefined> {
    const target = await resolveLinkTarget(link, link.info.mappings, link.info.cwd);
    if (!target) return undefined;
    return target.kind === 'local' ? vscode.Uri.file(target.file) : podUri(link.info.podId, target.path);
  }
}

export function registerTracebackLinks(services: KgpuServices): vscode.Disposable {
  return vscode.window.registerTerminalLinkProvider(new TracebackLinkProvider(services));
}

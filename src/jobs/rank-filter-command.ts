import * as vscode from 'vscode';
import { JobLogPanel } from '../platform/job-log-terminal';

/**
 * `kgpu: Filter Log by Rank…` — a torchrun job's log panel shows every rank's lines (each with
 * its coloured rank) or one rank's only; the panel is redrawn from what it kept. Works on the
 * active terminal, or (tests) `{ podId, jobId, rank: number | 'all' }`. Resolves with the rank
 * shown ('all'), or undefined when there is no torchrun panel or the pick was cancelled.
 */
export function registerRankFilterCommand(): vscode.Disposable {
  return vscode.commands.registerCommand(
    'kgpu.filterLogByRank',
    async (arg?: { podId?: string; jobId?: string; rank?: number | 'all' }) => {
      const panel =
        arg?.podId && arg.jobId ? JobLogPanel.panelsOf(arg.podId, arg.jobId)[0] : JobLogPanel.forTerminal(vscode.window.activeTerminal);
      const ranks = panel?.rankLog;
      if (!panel || !ranks) {
        void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: the active terminal is not the log of a torchrun job.'));
        return undefined;
      }
      let rank = arg?.rank;
      if (rank === undefined) {
        const items = [
          { label: vscode.l10n.t('All ranks'), rank: 'all' as number | 'all' },
          ...Array.from({ length: ranks.ranks }, (_, r) => ({
            label: vscode.l10n.t('Rank {0}', r),
            description: ranks.only === r ? vscode.l10n.t('shown now') : undefined,
            rank: r as number | 'all',
          })),
        ];
        const picked = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('Show which rank of the torchrun job?') });
        if (!picked) return undefined;
        rank = picked.rank;
      }
      panel.filterRank(rank === 'all' ? undefined : rank);
      panel.terminal.show(true);
      return rank;
    },
  );
}

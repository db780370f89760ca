import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import type { RentalsModel } from '../kgpu/model/rentals-model';
import { podDescription } from '../kgpu/model/rentals-view-model';
import { decodeCommandArgs, podIdOf } from './command-args';

/**
 * Resolve the pod a command acts on, so commands work from the palette, a tree item and
 * `executeCommand` alike. `arg` may be:
 *   - a pod id string ("gpu-rent-…");
 *   - a kgpu:// Uri (the authority is the pod id) or its string form;
 *   - a tree element with `pod: Pod` or `podId: string` (rentals rows, job rows);
 *   - an options object with `podId` / `pod_id` (tests, e2e);
 *   - undefined → a QuickPick of the matching pods (none → a message offering to rent).
 */
export interface PickPodOptions {
  /** Only ready pods (Running and ready) qualify. */
  ready?: boolean;
  /** Only live pods (Pending or Running) qualify. Implied by `ready`. */
  live?: boolean;
  /** QuickPick title, e.g. "Release which pod?". */
  title?: string;
}

/** The pod a command's argument names (command-args.ts decodes it). */
export function podIdFromArg(arg: unknown): string | undefined {
  return podIdOf(decodeCommandArgs(arg));
}

function qualifies(pod: Pod, o: PickPodOptions): boolean {
  if (o.ready) return isLivePod(pod) && pod.ready;
  if (o.live) return isLivePod(pod);
  return true;
}

export async function pickPod(pods: RentalsModel, arg: unknown, options: PickPodOptions = {}): Promise<Pod | undefined> {
  const id = podIdFromArg(arg);
  if (id) {
    let pod = pods.get(id);
    if (!pod) {
      await pods.refresh();
      pod = pods.get(id);
    }
    if (!pod) {
      void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: no rental {0} in this account.', id));
      return undefined;
    }
    if (!qualifies(pod, options)) {
      const state = isLivePod(pod) ? (pod.ready ? pod.phase : vscode.l10n.t('{0}, not ready yet', pod.phase)) : vscode.l10n.t('ended');
      void vscode.window.showWarningMessage(
        // Only a ready or live requirement can refuse a pod.
        options.ready
          ? vscode.l10n.t('kgpu: pod {0} ({1}) is {2}; this needs a ready pod.', pod.name, pod.pod_id, state)
          : vscode.l10n.t('kgpu: pod {0} ({1}) is {2}; this needs a running pod.', pod.name, pod.pod_id, state),
      );
      return undefined;
    }
    return pod;
  }
  const candidates = pods.pods.filter((p) => qualifies(p, options));
  if (candidates.length === 0) {
    const noPods = options.ready
      ? vscode.l10n.t('kgpu: you have no ready pods.')
      : options.live
        ? vscode.l10n.t('kgpu: you have no running pods.')
        : vscode.l10n.t('kgpu: you have no pods.');
    void vscode.window.showInformationMessage(noPods, vscode.l10n.t('Rent a GPU…')).then((choice) => {
      if (choice) void vscode.commands.executeCommand('kgpu.rent');
    });
    return undefined;
  }
  if (candidates.length === 1) return candidates[0];
  const picked = await vscode.window.showQuickPick(
    candidates.map((p) => ({ label: p.name, description: p.pod_id, detail: podDescription(p, Date.now()), pod: p })),
    {
      title: options.title ?? vscode.l10n.t('kgpu: which pod?'),
      placeHolder: vscode.l10n.t('Pick a rental'),
      matchOnDescription: true,
      ignoreFocusOut: true,
    },
  );
  return picked?.pod;
}

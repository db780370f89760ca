import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import type { RentalsModel } from '../kgpu/model/rentals-model';
import { podDescription } from '../kgpu/model/rentals-view-model';

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

export function podIdFromArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    if (arg.startsWith('kgpu://')) return vscode.Uri.parse(arg).authority || undefined;
    return arg.trim() || undefined;
  }
  if (arg instanceof vscode.Uri) return arg.scheme === 'kgpu' ? arg.authority || undefined : undefined;
  if (arg && typeof arg === 'object') {
    const o = arg as { pod?: { pod_id?: unknown }; podId?: unknown; pod_id?: unknown; uri?: unknown; resourceUri?: unknown };
    if (o.pod && typeof o.pod.pod_id === 'string') return o.pod.pod_id;
    if (typeof o.podId === 'string') return o.podId;
    if (typeof o.pod_id === 'string') return o.pod_id;
    if (o.resourceUri instanceof vscode.Uri) return podIdFromArg(o.resourceUri);
    if (o.uri instanceof vscode.Uri) return podIdFromArg(o.uri);
  }
  return undefined;
}

function qualifies(pod: Pod, o: PickPodOptions): boolean {
  if (o.ready) return isLivePod(pod) && pod.ready;
  if (o.live) return isLivePod(pod);
  return true;
}

function requirement(o: PickPodOptions): string {
  return o.ready ? 'ready' : o.live ? 'running' : '';
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
      void vscode.window.showErrorMessage(`kgpu: no rental ${id} in this account.`);
      return undefined;
    }
    if (!qualifies(pod, options)) {
      const state = isLivePod(pod) ? `${pod.phase}${pod.ready ? '' : ', not ready yet'}` : 'ended';
      void vscode.window.showWarningMessage(`kgpu: pod ${pod.name} (${pod.pod_id}) is ${state}; this needs a ${requirement(options)} pod.`);
      return undefined;
    }
    return pod;
  }
  const candidates = pods.pods.filter((p) => qualifies(p, options));
  if (candidates.length === 0) {
    const want = requirement(options);
    void vscode.window.showInformationMessage(`kgpu: you have no ${want ? want + ' ' : ''}pods.`, 'Rent a GPU…').then((choice) => {
      if (choice) void vscode.commands.executeCommand('kgpu.rent');
    });
    return undefined;
  }
  if (candidates.length === 1) return candidates[0];
  const picked = await vscode.window.showQuickPick(
    candidates.map((p) => ({ label: p.name, description: p.pod_id, detail: podDescription(p, Date.now()), pod: p })),
    { title: options.title ?? 'kgpu: which pod?', placeHolder: 'Pick a rental', matchOnDescription: true, ignoreFocusOut: true },
  );
  return picked?.pod;
}

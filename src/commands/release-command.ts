import * as vscode from 'vscode';
import { creditsSpent } from '../kgpu/model/rentals-view-model';
import { formatCredits, formatDollars } from '../kgpu/model/cost';
import { errorMessage } from '../kgpu/api/error-dedup';
import { podCommands } from '../kgpu/ssh/pod-commands';
import { pull } from '../kgpu/transfer/sync';
import { describeRefused } from '../kgpu/transfer/local-path-guard';
import type { KgpuServices } from '../platform/services';

/**
 * `kgpu: Release`: confirm (with "Download results first…": pick a local folder, copy the pod's
 * /workspace there with progress, then release), DELETE /pods/{id}, and show the row as
 * "Released by you". The pod's connections close (the connection router disposes them when the
 * pod ends) and its minted key is forgotten.
 * Argument: pod id / tree row / kgpu:// Uri, or { podId, yes?: true, downloadTo?: string }.
 */
export interface ReleaseOptions {
  yes?: boolean;
  /** Copy /workspace here before releasing (no prompt). */
  downloadTo?: string;
}

export function registerReleaseCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.release', async (arg?: unknown) => {
    const pod = await services.pickPod(arg, { live: true, title: 'kgpu: release which pod?' });
    if (!pod) return false;
    const o = arg && typeof arg === 'object' && !('kind' in arg) ? (arg as ReleaseOptions) : {};
    return releasePod(services, pod.pod_id, o);
  });
}

/** Release a pod (asking first unless `yes`). Resolves true when released. */
export async function releasePod(services: KgpuServices, podId: string, o: ReleaseOptions = {}): Promise<boolean> {
  const pod = services.pods.get(podId);
  const label = pod ? `${pod.name} (${pod.gpu_model} × ${pod.gpu_count})` : podId;
  let downloadTo = o.downloadTo;
  if (!o.yes && !downloadTo) {
    const ready = pod?.ready === true;
    const choice = await vscode.window.showWarningMessage(
      `Release ${label}?`,
      {
        modal: true,
        detail: `Its container and disk are destroyed: copy your results out first.${pod ? ` It has cost ${formatCredits(creditsSpent(pod, Date.now()))} so far.` : ''}`,
      },
      'Release',
      ...(ready ? ['Download Results First…'] : []),
    );
    if (!choice) return false;
    if (choice !== 'Release') {
      const folder = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        openLabel: 'Download /workspace here',
        title: `Download ${label}'s /workspace to…`,
      });
      if (!folder?.[0]) return false;
      downloadTo = folder[0].fsPath;
    }
  }
  if (downloadTo && !(await download(services, podId, label, downloadTo))) return false;

  services.podIntents.releasedHere.add(podId);
  try {
    const released = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `kgpu: releasing ${label}…` },
      () => services.client().release(podId),
    );
    services.log.info(`Released ${podId}.`);
    await services.podKeys.forget(podId); // its key (and any 0600 temp copy) is useless now
    const current = services.pods.get(podId);
    if (current)
      services.pods.upsert({
        ...current,
        ...released,
        phase: released.phase ?? 'Terminating',
        ready: false,
        end_reason: released.end_reason ?? 'returned',
      });
    await services.pods.refresh();
    const final = services.pods.get(podId);
    const spent = final ? creditsSpent(final, Date.now()) : undefined;
    void vscode.window.showInformationMessage(
      `kgpu: released ${label}${spent !== undefined ? ` — it cost ${formatCredits(spent)} (${formatDollars(spent)})` : ''}.`,
    );
    return true;
  } catch (e) {
    services.podIntents.releasedHere.delete(podId);
    services.showError(e, { prefix: `Could not release ${label} (it may still be billing — try again):` });
    return false;
  }
}

async function download(services: KgpuServices, podId: string, label: string, folder: string): Promise<boolean> {
  try {
    const connector = await services.connections.get(podId);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `kgpu: downloading ${label}'s /workspace`, cancellable: true },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        return pull(podCommands(connector), '/workspace', folder, {
          within: folder,
          signal: controller.signal,
          onProgress: (bytes, files, totalBytes) =>
            progress.report({
              message: `${files} files, ${(bytes / 1048576).toFixed(1)}${totalBytes ? ` of ${(totalBytes / 1048576).toFixed(1)}` : ''} MiB`,
            }),
        });
      },
    );
    services.log.info(`Downloaded ${result.files} files (${result.bytes} bytes) from ${podId}:/workspace to ${folder}.`);
    if (result.refused.length) {
      // Some results could not be written inside the chosen folder: ask before the pod (and they) go.
      const text = describeRefused(result.refused);
      services.log.warn(`Download from ${podId}:/workspace to ${folder}: ${text}.`);
      const a = await vscode.window.showWarningMessage(
        `kgpu: ${text} — they are still only in the pod. Release ${label} anyway?`,
        { modal: true },
        'Release Anyway',
      );
      return a === 'Release Anyway';
    }
    return true;
  } catch (e) {
    const a = await vscode.window.showErrorMessage(
      `kgpu: downloading ${label}'s /workspace failed — ${errorMessage(e)} The pod was NOT released.`,
      'Release Anyway',
    );
    return a === 'Release Anyway';
  }
}

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
    const pod = await services.pickPod(arg, { live: true, title: vscode.l10n.t('kgpu: release which pod?') });
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
    const release = vscode.l10n.t('Release');
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t('Release {0}?', label),
      {
        modal: true,
        detail: pod
          ? vscode.l10n.t(
              'Its container and disk are destroyed: copy your results out first. It has cost {0} so far.',
              formatCredits(creditsSpent(pod, Date.now())),
            )
          : vscode.l10n.t('Its container and disk are destroyed: copy your results out first.'),
      },
      release,
      ...(ready ? [vscode.l10n.t('Download Results First…')] : []),
    );
    if (!choice) return false;
    if (choice !== release) {
      const folder = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        openLabel: vscode.l10n.t('Download /workspace here'),
        title: vscode.l10n.t("Download {0}'s /workspace to…", label),
      });
      if (!folder?.[0]) return false;
      downloadTo = folder[0].fsPath;
    }
  }
  if (downloadTo && !(await download(services, podId, label, downloadTo))) return false;

  services.podIntents.releasedHere.add(podId);
  try {
    const released = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: releasing {0}…', label) },
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
      spent !== undefined
        ? vscode.l10n.t('kgpu: released {0} — it cost {1} ({2}).', label, formatCredits(spent), formatDollars(spent))
        : vscode.l10n.t('kgpu: released {0}.', label),
    );
    return true;
  } catch (e) {
    services.podIntents.releasedHere.delete(podId);
    services.showError(e, { prefix: vscode.l10n.t('Could not release {0} (it may still be billing — try again):', label) });
    return false;
  }
}

async function download(services: KgpuServices, podId: string, label: string, folder: string): Promise<boolean> {
  try {
    const connector = await services.connections.get(podId);
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t("kgpu: downloading {0}'s /workspace", label),
        cancellable: true,
      },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        return pull(podCommands(connector), '/workspace', folder, {
          within: folder,
          signal: controller.signal,
          onProgress: (bytes, files, totalBytes) =>
            progress.report({
              message: totalBytes
                ? vscode.l10n.t('{0} files, {1} of {2} MiB', files, (bytes / 1048576).toFixed(1), (totalBytes / 1048576).toFixed(1))
                : vscode.l10n.t('{0} files, {1} MiB', files, (bytes / 1048576).toFixed(1)),
            }),
        });
      },
    );
    services.log.info(`Downloaded ${result.files} files (${result.bytes} bytes) from ${podId}:/workspace to ${folder}.`);
    if (result.refused.length) {
      // Some results could not be written inside the chosen folder: ask before the pod (and they) go.
      const text = describeRefused(result.refused);
      services.log.warn(`Download from ${podId}:/workspace to ${folder}: ${text}.`);
      const releaseAnyway = vscode.l10n.t('Release Anyway');
      const a = await vscode.window.showWarningMessage(
        vscode.l10n.t('kgpu: {0} — they are still only in the pod. Release {1} anyway?', text, label),
        { modal: true },
        releaseAnyway,
      );
      return a === releaseAnyway;
    }
    return true;
  } catch (e) {
    const releaseAnyway = vscode.l10n.t('Release Anyway');
    const a = await vscode.window.showErrorMessage(
      vscode.l10n.t("kgpu: downloading {0}'s /workspace failed — {1} The pod was NOT released.", label, errorMessage(e)),
      releaseAnyway,
    );
    return a === releaseAnyway;
  }
}

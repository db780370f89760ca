import * as vscode from 'vscode';
import path from 'node:path';
import { uploadToPod, type UploadResult } from '../kgpu/transfer/pod-upload';
import { downloadFromPod, type DownloadResult } from '../kgpu/transfer/pod-download';
import type { TransferTotals } from '../kgpu/transfer/transfer-progress';
import { describeSkippedLinks } from '../kgpu/transfer/local-links';
import { describeRefused } from '../kgpu/transfer/local-path-guard';
import { isCancelled } from '../kgpu/util/cancelled';
import { decodeCommandArgs, optionsOf, type CommandArgs } from '../platform/command-args';
import type { KgpuServices } from '../platform/services';

/**
 * `kgpu: Upload…` and `kgpu: Download…` (explorer context menu on kgpu:// items, the Rentals view,
 * the palette). Progress in a cancellable notification; cancelling stops the copy and leaves no
 * partial file under a final name. Options (tests): upload `{ podId, remoteDir, localPaths }`,
 * download `{ podId, remotePaths, localDir }`.
 */
export interface UploadCommandOptions {
  podId?: string;
  remoteDir?: string;
  localPaths?: string[];
}

export interface DownloadCommandOptions {
  podId?: string;
  remotePaths?: string[];
  localDir?: string;
}

/** The command's options object when it is one of ours (names one of `keys`; a rental row is not). */
function plainOptions<T>(args: CommandArgs, keys: string[]): T | undefined {
  const o = optionsOf(args);
  return keys.some((k) => k in o) && !('pod' in o) ? (o as T) : undefined;
}

/** The kgpu: URIs the command was given (the explorer's selection, else the one URI). */
function kgpuUris(args: CommandArgs): vscode.Uri[] {
  if (args.kind !== 'uri') return [];
  if (args.selection.every((u) => u.scheme === 'kgpu')) return args.selection;
  return args.uri.scheme === 'kgpu' ? [args.uri] : [];
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Run a transfer in a cancellable progress notification; the AbortSignal follows the Cancel button. */
function withTransferProgress<T>(
  title: string,
  run: (signal: AbortSignal, report: (t: TransferTotals) => void) => Promise<T>,
): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
    const ctrl = new AbortController();
    token.onCancellationRequested(() => ctrl.abort());
    let shown = 0;
    let last = 0;
    const report = (t: TransferTotals): void => {
      const now = Date.now();
      if (now - last < 100 && t.filesDone < t.filesTotal) return;
      last = now;
      const pct = t.bytesTotal > 0 ? Math.min(100, (t.bytesDone / t.bytesTotal) * 100) : 0;
      progress.report({
        increment: Math.max(0, pct - shown),
        message: vscode.l10n.t('{0}/{1} files · {2} of {3}', t.filesDone, t.filesTotal, size(t.bytesDone), size(t.bytesTotal)),
      });
      shown = Math.max(shown, pct);
    };
    return run(ctrl.signal, report);
  });
}

export function registerTransferCommands(services: KgpuServices): vscode.Disposable {
  const upload = vscode.commands.registerCommand(
    'kgpu.upload',
    async (arg?: unknown, second?: unknown): Promise<UploadResult | undefined> => {
      services.podKeys.allowPassphrasePrompt(); // the user asked: a cancelled passphrase may be asked for again
      const args = decodeCommandArgs(arg, second);
      const plain = plainOptions<UploadCommandOptions>(args, ['localPaths', 'remoteDir']);
      const options: UploadCommandOptions = plain ?? {};
      const target = kgpuUris(args)[0];
      const pod = await services.pickPod(options.podId ?? target ?? (plain ? undefined : arg), {
        ready: true,
        title: vscode.l10n.t('Upload to which pod?'),
      });
      if (!pod) return undefined;
      let remoteDir = options.remoteDir ?? (target ? target.path : '/workspace');
      const session = services.connections.session(pod.pod_id);
      if (target && !options.remoteDir) {
        const st = await session
          .sftp()
          .then(({ rfs }) => rfs.tryStat(remoteDir))
          .catch(() => undefined);
        if (st && st.type !== 'directory') remoteDir = path.posix.dirname(remoteDir);
      }
      let localPaths = options.localPaths;
      if (!localPaths) {
        const picked = await vscode.window.showOpenDialog({
          canSelectFiles: true,
          canSelectFolders: true,
          canSelectMany: true,
          openLabel: vscode.l10n.t('Upload'),
          title: vscode.l10n.t('Upload to {0}:{1}', pod.pod_id, remoteDir),
        });
        if (!picked?.length) return undefined;
        localPaths = picked.map((u) => u.fsPath);
      }
      const paths = localPaths;
      try {
        const result = await withTransferProgress(vscode.l10n.t('Uploading to {0}:{1}', pod.pod_id, remoteDir), async (signal, report) => {
          const { connector, rfs } = await session.sftp();
          return uploadToPod(paths, remoteDir, {
            connector,
            rfs,
            transit: { client: services.client(), thresholdBytes: services.settings.get().transitObjectThresholdBytes },
            signal,
            onProgress: report,
          });
        });
        session.notifyPathsChanged(result.changes); // the kgpu: file system forgets and reports them
        const via = result.viaTransit ? ` (${result.viaTransit} through a transit object)` : '';
        const links = result.links ? `, ${result.links} symbolic link${result.links === 1 ? '' : 's'} recreated` : '';
        services.log.info(`Uploaded ${result.files} files, ${size(result.bytes)}, to ${pod.pod_id}:${remoteDir}${via}${links}.`);
        // Shown: each clause translated whole (the log above stays English).
        const shownVia = result.viaTransit ? vscode.l10n.t(' ({0} through a transit object)', result.viaTransit) : '';
        const shownLinks = result.links
          ? result.links === 1
            ? vscode.l10n.t(', {0} symbolic link recreated', result.links)
            : vscode.l10n.t(', {0} symbolic links recreated', result.links)
          : '';
        const text =
          result.files === 1
            ? vscode.l10n.t('Uploaded {0} file ({1}) to {2}{3}{4}.', result.files, size(result.bytes), remoteDir, shownVia, shownLinks)
            : vscode.l10n.t('Uploaded {0} files ({1}) to {2}{3}{4}.', result.files, size(result.bytes), remoteDir, shownVia, shownLinks);
        if (result.skipped.length) {
          // Never followed out of the chosen folder: say which links were left out.
          const skipped = describeSkippedLinks(result.skipped);
          services.log.warn(`Upload to ${pod.pod_id}:${remoteDir}: ${skipped}.`);
          void vscode.window.showWarningMessage(
            vscode.l10n.t(
              '{0} Symbolic links {1}.',
              text,
              skipped.replace(/^not uploaded: /, vscode.l10n.t('not uploaded (never followed out of the folder): ')),
            ),
          );
        } else {
          void vscode.window.showInformationMessage(text);
        }
        return result;
      } catch (e) {
        session.notifyPathsChanged([{ type: 'changed', path: remoteDir }]);
        if (isCancelled(e)) {
          void vscode.window.showInformationMessage(
            vscode.l10n.t('Upload cancelled. Files already copied were kept; no partial file was left under its name.'),
          );
          return undefined;
        }
        services.showError(e, { prefix: vscode.l10n.t('Upload to {0}:{1} failed:', pod.pod_id, remoteDir) });
        return undefined;
      }
    },
  );

  const download = vscode.commands.registerCommand(
    'kgpu.download',
    async (arg?: unknown, second?: unknown): Promise<DownloadResult | undefined> => {
      services.podKeys.allowPassphrasePrompt(); // the user asked: a cancelled passphrase may be asked for again
      const args = decodeCommandArgs(arg, second);
      const plain = plainOptions<DownloadCommandOptions>(args, ['remotePaths', 'localDir']);
      const options: DownloadCommandOptions = plain ?? {};
      const uris = kgpuUris(args);
      const pod = await services.pickPod(options.podId ?? uris[0] ?? (plain ? undefined : arg), {
        ready: true,
        title: vscode.l10n.t('Download from which pod?'),
      });
      if (!pod) return undefined;
      let remotePaths = options.remotePaths ?? uris.filter((u) => u.authority === pod.pod_id).map((u) => u.path);
      if (remotePaths.length === 0) {
        const typed = await vscode.window.showInputBox({
          title: vscode.l10n.t('Download from {0}', pod.pod_id),
          prompt: vscode.l10n.t('File or folder in the pod'),
          value: '/workspace',
          validateInput: (v) =>
            v.startsWith('/') && v.length > 1 ? undefined : vscode.l10n.t('An absolute path in the pod, e.g. /workspace/out'),
        });
        if (!typed) return undefined;
        remotePaths = [typed];
      }
      let localDir = options.localDir;
      if (!localDir) {
        const picked = await vscode.window.showOpenDialog({
          canSelectFiles: false,
          canSelectFolders: true,
          canSelectMany: false,
          openLabel: vscode.l10n.t('Download Here'),
          title:
            remotePaths.length === 1
              ? vscode.l10n.t('Download {0} to…', path.posix.basename(remotePaths[0]))
              : vscode.l10n.t('Download {0} items to…', remotePaths.length),
        });
        if (!picked?.length) return undefined;
        localDir = picked[0].fsPath;
      }
      const dir = localDir;
      const paths = remotePaths;
      try {
        const result = await withTransferProgress(vscode.l10n.t('Downloading from {0}', pod.pod_id), async (signal, report) => {
          const connector = await services.connections.session(pod.pod_id).connector();
          return downloadFromPod(connector, paths, dir, { signal, onProgress: report });
        });
        services.log.info(`Downloaded ${result.files} files, ${size(result.bytes)}, from ${pod.pod_id} to ${dir}.`);
        if (result.refused.length) {
          // Never written outside the chosen folder, nor under a name this system reads as a path.
          const text = describeRefused(result.refused);
          services.log.warn(`Download from ${pod.pod_id} to ${dir}: ${text}.`);
          void vscode.window.showWarningMessage(
            result.files === 1
              ? vscode.l10n.t(
                  'kgpu: downloaded {0} file to {1}; {2}. Rename them in the pod, or check the local folders that are links, then download again.',
                  result.files,
                  dir,
                  text,
                )
              : vscode.l10n.t(
                  'kgpu: downloaded {0} files to {1}; {2}. Rename them in the pod, or check the local folders that are links, then download again.',
                  result.files,
                  dir,
                  text,
                ),
          );
        } else if (!options.localDir) {
          void vscode.window
            .showInformationMessage(
              result.files === 1
                ? vscode.l10n.t('Downloaded {0} file ({1}) to {2}.', result.files, size(result.bytes), dir)
                : vscode.l10n.t('Downloaded {0} files ({1}) to {2}.', result.files, size(result.bytes), dir),
              vscode.l10n.t('Reveal'),
            )
            .then((a) => {
              if (a) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(result.targets[0] ?? dir));
            });
        }
        return result;
      } catch (e) {
        if (isCancelled(e)) {
          void vscode.window.showInformationMessage(vscode.l10n.t('Download cancelled; no partial file was left under its name.'));
          return undefined;
        }
        services.showError(e, { prefix: vscode.l10n.t('Download from {0} failed:', pod.pod_id) });
        return undefined;
      }
    },
  );

  return vscode.Disposable.from(upload, download);
}

/**
 * Download files and folders from a pod into a local folder through sync.ts's `pull` (one tar
 * stream per selected item; every file is written under a temp name and renamed into place when
 * complete, so a cancelled or failed download leaves no partial file under a final name).
 */
import path from 'node:path';
import type { PodConnector } from './ssh-connection';
import { podCommands } from './pod-commands';
import { pull } from './sync';
import type { TransferTotals } from './transfer-progress';

export interface PodDownloadOptions {
  signal?: AbortSignal;
  onProgress?: (t: TransferTotals) => void;
}

export interface DownloadResult {
  files: number;
  bytes: number;
  /** Local paths written (one per selected pod path). */
  targets: string[];
  skippedSymlinks: number;
}

export async function downloadFromPod(connector: PodConnector, remotePaths: readonly string[], localDir: string, options: PodDownloadOptions = {}): Promise<DownloadResult> {
  const pod = podCommands(connector);
  const result: DownloadResult = { files: 0, bytes: 0, targets: [], skippedSymlinks: 0 };
  for (const remote of remotePaths) {
    const target = path.join(localDir, path.posix.basename(remote));
    const before = { files: result.files, bytes: result.bytes };
    const r = await pull(pod, remote, target, {
      signal: options.signal,
      onProgress: (bytes, files, totalBytes) =>
        options.onProgress?.({
          bytesDone: before.bytes + bytes,
          bytesTotal: before.bytes + (totalBytes ?? bytes),
          filesDone: before.files + files,
          filesTotal: before.files + files,
          current: remote,
        }),
    });
    result.files += r.files;
    result.bytes += r.bytes;
    result.skippedSymlinks += r.skippedSymlinks;
    result.targets.push(target);
  }
  return result;
}

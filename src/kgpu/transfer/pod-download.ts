/**
 * Download files and folders from a pod into a local folder through sync.ts's `pull` (one tar
 * stream per selected item; every file is written under a temp name and renamed into place when
 * complete, so a cancelled or failed download leaves no partial file under a final name).
 * Nothing is written outside the chosen folder (local-path-guard.ts): refused entries are listed
 * in the result and the rest completes.
 */
import path from 'node:path';
import type { PodConnector } from '../ssh/ssh-connection';
import { podCommands } from '../ssh/pod-commands';
import { pull } from './sync';
import type { TransferTotals } from './transfer-progress';
import { unsafeLocalName, type RefusedEntry } from './local-path-guard';

export interface PodDownloadOptions {
  signal?: AbortSignal;
  onProgress?: (t: TransferTotals) => void;
  /** Whose file-name rules apply (default this machine's; tests pass 'win32'). */
  platform?: NodeJS.Platform;
}

export interface DownloadResult {
  files: number;
  bytes: number;
  /** Local paths written (one per selected pod path). */
  targets: string[];
  skippedSymlinks: number;
  /** What was not written because it would land outside `localDir` or is no plain name here
   *  (a selected path by its pod path, an entry inside one by its archive path). */
  refused: RefusedEntry[];
}

export async function downloadFromPod(
  connector: PodConnector,
  remotePaths: readonly string[],
  localDir: string,
  options: PodDownloadOptions = {},
): Promise<DownloadResult> {
  const pod = podCommands(connector);
  const result: DownloadResult = { files: 0, bytes: 0, targets: [], skippedSymlinks: 0, refused: [] };
  for (const remote of remotePaths) {
    // The pod names the file: `..\..\x.bat` is one Linux name but a path on Windows.
    const name = path.posix.basename(remote);
    const why = unsafeLocalName(name, options.platform);
    if (why) {
      result.refused.push({ path: remote, reason: why });
      continue;
    }
    const target = path.join(localDir, name);
    const before = { files: result.files, bytes: result.bytes };
    const r = await pull(pod, remote, target, {
      within: localDir,
      platform: options.platform,
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
    result.refused.push(...r.refused);
    result.targets.push(target);
  }
  return result;
}

/**
 * Copy a folder of the pod (default /workspace) into a local folder over ONE exec channel:
 * `tar -c` in the pod, the archive streamed through the bastion, unpacked by our tar reader —
 * used by "Download results first…" before a release. Symlinks and special files are skipped;
 * paths escaping the destination are refused.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import type { PodConnector } from './ssh-connection';
import { execStream } from './ssh-exec';
import { quote } from './shell-quote';
import { readTar } from './tar-stream';

export interface PullProgress {
  files: number;
  bytes: number;
}

export interface PullResult extends PullProgress {
  skipped: string[];
}

export async function pullFolder(
  connector: PodConnector,
  remoteDir: string,
  localDir: string,
  options: { signal?: AbortSignal; onProgress?: (p: PullProgress) => void; exclude?: string[] } = {},
): Promise<PullResult> {
  const excludes = (options.exclude ?? ['./.kgpu']).map((e) => `--exclude=${quote(e)}`).join(' ');
  const stream = await execStream(connector, `cd ${quote(remoteDir)} && tar -cf - ${excludes} .`, { signal: options.signal });
  const root = path.resolve(localDir);
  await fsp.mkdir(root, { recursive: true });
  const progress: PullResult = { files: 0, bytes: 0, skipped: [] };
  let stderr = '';
  stream.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const read = readTar(stream.stdout as AsyncIterable<Buffer>, async (entry) => {
    const rel = entry.path.replace(/^\.\/?/, '');
    if (rel === '') return undefined;
    const target = path.resolve(root, rel);
    if (target !== root && !target.startsWith(root + path.sep)) {
      progress.skipped.push(entry.path);
      return undefined;
    }
    if (entry.type === 'dir') {
      await fsp.mkdir(target, { recursive: true });
      return undefined;
    }
    if (entry.type !== 'file') {
      progress.skipped.push(entry.path);
      return undefined;
    }
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const body = new PassThrough();
    const written = pipeline(body, createWriteStream(target, { mode: entry.mode & 0o777 || 0o644 }));
    return {
      write: async (chunk: Buffer) => {
        progress.bytes += chunk.length;
        if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
        options.onProgress?.({ files: progress.files, bytes: progress.bytes });
      },
      end: async () => {
        body.end();
        await written;
        progress.files++;
        options.onProgress?.({ files: progress.files, bytes: progress.bytes });
      },
    };
  });
  const [status] = await Promise.all([stream.done, read]);
  if (status.exitCode !== 0) throw new Error(`Copying ${remoteDir} from the pod failed: ${stderr.trim() || `tar exited with ${status.exitCode ?? status.signal}`}.`);
  return progress;
}

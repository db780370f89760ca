/**
 * Pull a file or a folder from the pod: `tar -c` of it streamed back and unpacked here, each file
 * written to a temp name and renamed into place, so a cancelled pull leaves no partial file under a
 * final name; nothing is written outside the folder the user chose (local-path-guard.ts).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { drained, type PodCommands } from '../ssh/pod-commands';
import { SshAbortedError } from '../ssh/ssh-errors';
import { quoteArgv } from '../util/shell-quote';
import { tempSiblingName } from '../util/temp-name';
import { LocalPathGuard, type RefusedEntry } from './local-path-guard';
import { aborted, SyncError } from './sync-error';
import { readTar, type TarEntry, type TarEntrySink } from './tar-stream';

const PULL_SCRIPT = String.raw`cd -- "$1" 2>/dev/null && [ -e "$2" ] || { printf 'No such file or directory in the pod: %s\n' "$1/$2" >&2; exit 3; }
printf 'KGPU-SIZE %s\n' "$(du -sb -- "$2" 2>/dev/null | cut -f1 | head -n 1)" >&2
exec tar -c --format=pax --no-unquote -f - -- "$2"
`;

export interface PullOptions {
  signal?: AbortSignal;
  /** Bytes and files written so far; totalBytes from `du` in the pod when known. */
  onProgress?(bytes: number, files: number, totalBytes?: number): void;
  /** The folder the user chose: nothing is written outside it (local-path-guard.ts). Default: the
   *  folder `localPath` is in. */
  within?: string;
  /** Whose file-name rules apply (default this machine's; tests pass 'win32'). */
  platform?: NodeJS.Platform;
}

export interface PullResult {
  files: number;
  bytes: number;
  /** Symlinks in the pod's tree are not recreated locally. */
  skippedSymlinks: number;
  /** Entries not written because their local path would not be a plain path inside the chosen
   *  folder (named by their path in the archive, e.g. "out/CON"); the rest was written. */
  refused: RefusedEntry[];
  durationMs: number;
}

/**
 * Copy a file or a folder from the pod to `localPath` (the file, or the folder to create/merge
 * into). Each file is written under a temp name and renamed into place when complete.
 */
export async function pull(pod: PodCommands, remotePath: string, localPath: string, options: PullOptions = {}): Promise<PullResult> {
  const t0 = Date.now();
  const { signal } = options;
  const norm = path.posix.normalize(remotePath).replace(/\/+$/, '');
  if (!norm.startsWith('/') || norm === '' || norm === '/')
    throw new SyncError(`Pull needs an absolute pod path below / (got "${remotePath}").`);
  const dir = path.posix.dirname(norm);
  const base = path.posix.basename(norm);
  const within = options.within ?? path.dirname(localPath);
  const guard = new LocalPathGuard(within, options.platform);
  // Where localPath is below the chosen folder (`/`-separated, to check with the entries' names).
  const prefix = path.relative(within, localPath).split(path.sep).join('/');
  if (prefix.startsWith('..') || path.isAbsolute(prefix)) throw new SyncError(`Pull target ${localPath} is not inside ${within}.`);

  const s = await pod.execStream(quoteArgv(['sh', '-c', PULL_SCRIPT, 'kgpu-pull', dir, base]), { signal });
  let stderr = '';
  let totalBytes: number | undefined;
  s.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 65536) stderr += b.toString('utf8');
    const m = /KGPU-SIZE (\d+)/.exec(stderr);
    if (m) totalBytes = Number(m[1]);
  });
  s.done.catch(() => undefined);

  let files = 0;
  let bytes = 0;
  let skippedSymlinks = 0;
  const refused: RefusedEntry[] = [];
  let openTemp: { fh: fsp.FileHandle; tmp: string } | undefined;

  const onEntry = async (e: TarEntry): Promise<TarEntrySink | undefined> => {
    aborted(signal, 'Pulling from the pod');
    let rel: string;
    if (e.path === base) rel = '';
    else if (e.path.startsWith(base + '/')) rel = e.path.slice(base.length + 1);
    else throw new SyncError(`Unexpected entry "${e.path}" in the pod's archive.`);
    if (e.type === 'symlink') {
      skippedSymlinks++;
      return undefined;
    }
    if (e.type !== 'file' && e.type !== 'dir') return undefined;
    // Every local target is checked: plain names here, and inside the chosen folder for real.
    const relWithin = [prefix, rel].filter((x) => x !== '').join('/');
    const why = await guard.check(relWithin, e.type);
    if (why) {
      refused.push({ path: e.path, reason: why });
      return undefined;
    }
    const target = rel === '' ? localPath : path.join(localPath, ...rel.split('/'));
    if (e.type === 'dir') {
      await fsp.mkdir(target, { recursive: true });
      return undefined;
    }
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(path.dirname(target), tempSiblingName(path.basename(target), `.kgpu-part-${randomBytes(4).toString('hex')}`));
    const fh = await fsp.open(tmp, 'w', 0o600);
    openTemp = { fh, tmp };
    return {
      write: async (chunk) => {
        await fh.write(chunk);
        bytes += chunk.length;
        options.onProgress?.(bytes, files, totalBytes);
      },
      end: async () => {
        await fh.close();
        openTemp = undefined;
        await fsp.chmod(tmp, e.mode & 0o777);
        await fsp.utimes(tmp, e.mtime, e.mtime);
        await fsp.rename(tmp, target);
        files++;
        options.onProgress?.(bytes, files, totalBytes);
      },
    };
  };

  try {
    await readTar(s.stdout as AsyncIterable<Buffer>, onEntry);
    const [st] = await Promise.all([s.done, drained(s.stderr)]);
    if (st.exitCode === 3)
      throw new SyncError(stderr.split('\n').find((l) => l.startsWith('No such')) ?? `No such file or directory in the pod: ${norm}`);
    if (st.exitCode !== 0)
      throw new SyncError(`Pulling ${norm} failed: ${stderr.replace(/KGPU-SIZE.*\n/, '').trim() || `exit ${st.exitCode ?? st.signal}`}`);
  } catch (e) {
    s.close();
    if (openTemp) {
      const t = openTemp;
      openTemp = undefined;
      await t.fh.close().catch(() => undefined);
      await fsp.unlink(t.tmp).catch(() => undefined);
    }
    if (signal?.aborted) throw new SshAbortedError('Pulling from the pod');
    if (e instanceof SyncError || e instanceof SshAbortedError) throw e;
    const st = await s.done.catch((err: unknown) => err);
    if (st instanceof Error) throw st;
    throw new SyncError(`Pulling ${norm} failed: ${(e as Error).message}`, { cause: e });
  }
  return { files, bytes, skippedSymlinks, refused, durationMs: Date.now() - t0 };
}

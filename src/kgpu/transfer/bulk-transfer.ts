/**
 * Big-file copies between this machine and a pod, streamed over an exec channel (`cat` / `dd`).
 * Measured with test/unit/kgpu/transfer/transfer-measure.ts (200 MB, loopback, bastion in its own process,
 * 2 noisy cores, medians of 5): upload 0.87–0.98× `scp -O`, download 0.77–0.88×; ssh2's pipelined
 * SFTP (fastPut/fastGet, 255 KiB chunks, 64 in flight) was no faster in the same runs, and the
 * streamed copy resumes simply and safely. (`tail -c +N` for the resume measured ~25 % slower
 * than `cat`/`dd`: it writes 8 KiB blocks.)
 *
 * Safe against dropped connections:
 * - upload writes to a hidden temp file next to the target (name derived from the local file's
 *   size and mtime, so a retry finds it), appending from the size already there; the remote
 *   script holds a lock on the temp file so a writer from a dropped connection is finished
 *   before the size is read. Only when the temp file has exactly the expected size (and, after a
 *   resume, the expected sha256) is it renamed over the target — the target is never truncated.
 * - download appends to `<local>.kgpu-part`, resuming from its size (`dd skip=N`), checks size
 *   (and sha256 after a resume) and then renames it over the local target.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { PodConnector } from '../ssh/ssh-connection';
import { exec, execStream, type ExecStream, type ExitStatus } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { tempSiblingName } from '../util/temp-name';
import { SshAbortedError, SshError } from '../ssh/ssh-errors';
import { backoffReconnectPolicy, waitToRetry, type ReconnectPolicy } from '../ssh/reconnect-policy';
import { sha256File } from '../util/hash';

export interface TransferProgress {
  /** Bytes of the file now at the destination (counting bytes kept from before a resume). */
  bytes: number;
  total: number;
}

export interface TransferOptions {
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
  /** Check sha256 on both ends: 'auto' (default) only after a resume, 'always', or 'never'. */
  verify?: 'auto' | 'always' | 'never';
  /** Attempts in a row that make no progress before giving up (default 5). */
  maxStalledAttempts?: number;
  /** The pod session's retry policy: which errors are retried and the wait between attempts. */
  reconnect?: ReconnectPolicy;
}

export interface TransferResult {
  bytes: number;
  /** Times the copy was resumed after a dropped connection. */
  resumes: number;
  /** Whether the sha256 of both ends was compared (and matched). */
  verified: boolean;
}

/** Exit codes of the remote upload script. */
const UP_SHORT = 74; // the temp file is short: the stream ended early (connection dropped)
const UP_RETRY = 75; // lost a race on the temp file; try again
const UP_MISMATCH = 76; // checksum mismatch: the temp file was removed

function isRetryable(e: unknown, options: TransferOptions): boolean {
  return (options.reconnect ?? DEFAULT_RECONNECT).isTransient(e) || e instanceof TransferRetry;
}

class TransferRetry extends Error {}

export { sha256File };

const DEFAULT_RECONNECT = backoffReconnectPolicy();

/** The pod session's backoff before the next attempt, `stalled` attempts in a row having made no progress. */
async function backoff(stalled: number, options: TransferOptions): Promise<void> {
  await waitToRetry(options.reconnect ?? DEFAULT_RECONNECT, stalled + 1, options.signal, 'The transfer');
}

/** The pod's answer line is a number or two: more than this without a newline is not an answer. */
const MAX_ANSWER_LINE_BYTES = 4096;

/** Read a stream up to its first newline, at most `maxBytes` (a pod that never sends a newline is
 *  refused, not buffered); returns the line and what came after it (binary data the caller handles). */
export function readAnswerLine(stdout: Readable, maxBytes = MAX_ANSWER_LINE_BYTES): Promise<{ line: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let acc = Buffer.alloc(0);
    const stop = (): void => {
      stdout.removeListener('data', onData);
      stdout.removeListener('end', onEnd);
      stdout.pause();
    };
    const onData = (b: Buffer): void => {
      acc = Buffer.concat([acc, b]);
      const nl = acc.indexOf(0x0a);
      if (nl >= 0 && nl <= maxBytes) {
        stop();
        resolve({ line: acc.subarray(0, nl).toString('utf8'), rest: acc.subarray(nl + 1) });
      } else if (acc.length > maxBytes) {
        stop();
        reject(
          new SshError(
            `The pod sent no answer line within ${maxBytes} bytes (it starts ${JSON.stringify(acc.subarray(0, 32).toString('latin1'))}); is something in the pod's image replacing standard tools?`,
          ),
        );
      }
    };
    const onEnd = (): void => reject(new TransferRetry('the remote side ended before its header'));
    stdout.on('data', onData);
    stdout.once('end', onEnd);
  });
}

/**
 * Run `script` and read its first line — the pod's answer before any file bytes. When the command
 * ends before answering, a transport error is rethrown as it is; otherwise `fail` turns the exit
 * status and stderr into the caller's error.
 */
async function startWithHeader(
  connector: PodConnector,
  script: string,
  signal: AbortSignal | undefined,
  fail: (status: ExitStatus, stderr: string, cause: Error) => Error,
): Promise<{ s: ExecStream; stderr: () => string; header: { line: string; rest: Buffer } }> {
  const s = await execStream(connector, script, { signal });
  const stderr = collect(s.stderr);
  s.done.catch(() => undefined);
  try {
    const header = await Promise.race([readAnswerLine(s.stdout), s.done.then(() => Promise.reject(new TransferRetry('no header')))]);
    return { s, stderr, header };
  } catch (e) {
    s.close();
    const status = await s.done.catch((err: Error) => err);
    if (status instanceof Error) throw status;
    throw fail(status, stderr(), e as Error);
  }
}

function collect(r: NodeJS.ReadableStream): () => string {
  const parts: Buffer[] = [];
  r.on('data', (b: Buffer) => {
    if (parts.length < 64) parts.push(b);
  });
  return () => Buffer.concat(parts).toString('utf8').trim();
}

// ---- upload ---------------------------------------------------------------------------------

export function uploadScript(tmp: string, target: string, size: number, hash: string | undefined): string {
  const t = quote(tmp);
  const d = quote(target);
  return [
    `t=${t}; d=${d}`,
    `exec 9>>"$t" || exit 70`,
    // A writer from a dropped connection may still be flushing: wait for it.
    `if command -v flock >/dev/null 2>&1; then flock -w 60 9 || exit 71; fi`,
    `[ "/proc/$$/fd/9" -ef "$t" ] || exit ${UP_RETRY}`,
    `n=$(stat -c %s -- "$t") || exit 72`,
    `if [ "$n" -gt ${size} ]; then : >"$t"; n=0; fi`,
    `echo "$n"`,
    `cat >&9 || exit 73`,
    `[ "$(stat -c %s -- "$t")" = ${size} ] || exit ${UP_SHORT}`,
    hash
      ? `h=$(sha256sum <"$t") && [ "\${h%% *}" = ${hash} ] || { rm -f -- "$t"; echo "sha256 mismatch after resume" >&2; exit ${UP_MISMATCH}; }`
      : ':',
    `if [ -e "$d" ]; then chmod --reference="$d" -- "$t" 2>/dev/null; fi`,
    `mv -f -- "$t" "$d"`,
  ].join('\n');
}

export async function upload(
  connector: PodConnector,
  localPath: string,
  remotePath: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  const st = await fsp.stat(localPath);
  const size = st.size;
  const tag = createHash('sha1').update(`${size}:${st.mtimeMs}:${localPath}`).digest('hex').slice(0, 12);
  const tmp = path.posix.join(path.posix.dirname(remotePath), tempSiblingName(path.posix.basename(remotePath), `.kgpu-upload-${tag}`));
  const verifyMode = options.verify ?? 'auto';
  let hash: string | undefined = verifyMode === 'always' ? await sha256File(localPath, options.signal) : undefined;
  let resumes = 0;
  let stalled = 0;
  let best = -1;
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new SshAbortedError('The upload');
    let reached = 0;
    try {
      await uploadOnce(connector, localPath, size, tmp, remotePath, hash, options, (n) => (reached = n));
      return { bytes: size, resumes, verified: hash !== undefined };
    } catch (e) {
      if (!isRetryable(e, options) || options.signal?.aborted) {
        if (options.signal?.aborted) {
          await exec(connector, `rm -f -- ${quote(tmp)}`).catch(() => undefined);
          throw new SshAbortedError('The upload');
        }
        throw e;
      }
      if (reached > best) {
        best = reached;
        stalled = 0;
      } else if (++stalled >= (options.maxStalledAttempts ?? 5)) {
        throw new SshError(
          `Uploading ${localPath} to ${remotePath} kept failing (${(e as Error).message}); the partial copy is kept in the pod as ${tmp} and a retry resumes from it.`,
          { cause: e },
        );
      }
      resumes++;
      if (hash === undefined && verifyMode !== 'never') hash = await sha256File(localPath, options.signal);
      await backoff(stalled, options);
    }
  }
}

async function uploadOnce(
  connector: PodConnector,
  localPath: string,
  size: number,
  tmp: string,
  remotePath: string,
  hash: string | undefined,
  options: TransferOptions,
  reached: (n: number) => void,
): Promise<void> {
  const { s, stderr, header } = await startWithHeader(
    connector,
    uploadScript(tmp, remotePath, size, hash),
    options.signal,
    (status, stderr, cause) =>
      status.exitCode === UP_RETRY || status.exitCode === 71
        ? new TransferRetry('temp file busy')
        : new SshError(
            `Cannot upload to ${remotePath} in the pod: ${stderr || cause.message} (exit ${status.exitCode ?? status.signal}). Check that the folder exists and is writable.`,
          ),
  );
  s.stdout.resume();
  const from = Number(header.line);
  if (!Number.isSafeInteger(from) || from < 0 || from > size) {
    s.close();
    throw new SshError(`Unexpected reply from the pod while uploading: ${JSON.stringify(header.line)}`);
  }
  let sent = from;
  reached(from);
  options.onProgress?.({ bytes: from, total: size });
  const src = fs.createReadStream(localPath, { start: from, highWaterMark: 1 << 20 });
  src.on('data', (b: string | Buffer) => {
    sent += b.length;
    options.onProgress?.({ bytes: sent, total: size });
  });
  // Not stream.pipeline: it would destroy the channel's readable side early. A dropped channel
  // shows up in `done`; a local read error aborts the attempt.
  let readError: Error | undefined;
  src.on('error', (e) => {
    readError = e;
    s.close();
  });
  src.pipe(s.stdin);
  const status = await s.done.finally(() => src.destroy());
  if (readError) throw new SshError(`Cannot read ${localPath}: ${readError.message}`, { cause: readError });
  reached(sent);
  if (status.exitCode === 0) {
    options.onProgress?.({ bytes: size, total: size });
    return;
  }
  if (status.exitCode === UP_SHORT || status.exitCode === UP_RETRY || status.exitCode === UP_MISMATCH) {
    throw new TransferRetry(`upload attempt ended early (exit ${status.exitCode})`);
  }
  throw new SshError(`Upload to ${remotePath} failed in the pod: ${stderr() || `exit ${status.exitCode ?? status.signal}`}.`);
}

// ---- download -------------------------------------------------------------------------------

export async function download(
  connector: PodConnector,
  remotePath: string,
  localPath: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  // `<name>.kgpu-part` beside the target, its name kept within the 255-byte cap (deterministic, so a resume finds it).
  const part = path.join(path.dirname(localPath), tempSiblingName(path.basename(localPath), '.kgpu-part').slice(1));
  const verifyMode = options.verify ?? 'auto';
  let resumes = 0;
  let stalled = 0;
  let best = -1;
  let identity: string | undefined; // "size mtime" of the remote file when the part file began
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new SshAbortedError('The download');
    let have = await fsp.stat(part).then(
      (s) => s.size,
      () => 0,
    );
    if (attempt === 0 && have > 0) {
      // A part file from an earlier run: we cannot know it is the same remote file; start over.
      await fsp.truncate(part, 0);
      have = 0;
    }
    try {
      const r = await downloadOnce(connector, remotePath, part, have, identity, options);
      if (r.restart) {
        identity = r.identity;
        await fsp.truncate(part, 0);
        continue;
      }
      identity = r.identity;
      const size = Number(identity.split(' ')[0]);
      const got = (await fsp.stat(part)).size;
      if (got !== size) throw new TransferRetry(`short download (${got} of ${size} bytes)`);
      let verified = false;
      if (verifyMode === 'always' || (verifyMode === 'auto' && resumes > 0)) {
        const [local, remote] = await Promise.all([sha256File(part, options.signal), remoteSha256(connector, remotePath, options.signal)]);
        if (local !== remote) {
          await fsp.rm(part, { force: true });
          throw new SshError(
            `The downloaded copy of ${remotePath} does not match the pod's file (sha256 differs; did it change during the copy?). Nothing was written to ${localPath}; try again.`,
          );
        }
        verified = true;
      }
      await fsp.rename(part, localPath);
      return { bytes: size, resumes, verified };
    } catch (e) {
      if (!isRetryable(e, options) || options.signal?.aborted) {
        if (options.signal?.aborted) {
          await fsp.rm(part, { force: true });
          throw new SshAbortedError('The download');
        }
        throw e;
      }
      const now = await fsp.stat(part).then(
        (s) => s.size,
        () => 0,
      );
      if (now > best) {
        best = now;
        stalled = 0;
      } else if (++stalled >= (options.maxStalledAttempts ?? 5)) {
        throw new SshError(`Downloading ${remotePath} kept failing (${(e as Error).message}).`, { cause: e });
      }
      resumes++;
      await backoff(stalled, options);
    }
  }
}

async function remoteSha256(connector: PodConnector, remotePath: string, signal?: AbortSignal): Promise<string> {
  const r = await exec(connector, `sha256sum -- ${quote(remotePath)}`, { signal });
  if (r.exitCode !== 0) throw new SshError(`sha256sum of ${remotePath} failed in the pod: ${r.stderr.toString('utf8').trim()}`);
  return r.stdout.toString('utf8').split(' ')[0].replace(/^\\/, '');
}

async function downloadOnce(
  connector: PodConnector,
  remotePath: string,
  part: string,
  have: number,
  identity: string | undefined,
  options: TransferOptions,
): Promise<{ identity: string; restart: boolean }> {
  const f = quote(remotePath);
  // cat / dd write big blocks (tail writes 8 KiB ones, which measured ~25 % slower through the bastion).
  const copy = have === 0 ? `exec cat -- ${f}` : `exec dd if=${f} bs=256K skip=${have} iflag=skip_bytes status=none`;
  const script = `s=$(stat -L -c '%s %Y' -- ${f}) || exit 66\necho "$s"\n${copy}`;
  const { s, stderr, header } = await startWithHeader(
    connector,
    script,
    options.signal,
    (_status, stderr, cause) => new SshError(`Cannot download ${remotePath} from the pod: ${stderr || cause.message}.`),
  );
  const size = Number(header.line.split(' ')[0]);
  if (identity !== undefined && identity !== header.line) {
    s.close(); // the remote file changed since the part file began
    await s.done.catch(() => undefined);
    return { identity: header.line, restart: true };
  }
  const out = fs.createWriteStream(part, { flags: 'a', highWaterMark: 4 << 20 });
  let got = have;
  let overrun = false;
  const onChunk = (b: Buffer): void => {
    got += b.length;
    // More than the pod said the file holds (a device such as /dev/zero says 0 and never ends):
    // stop instead of filling this disk.
    if (got > size && !overrun) {
      overrun = true;
      s.close();
    }
    options.onProgress?.({ bytes: Math.min(got, size), total: size });
  };
  options.onProgress?.({ bytes: have, total: size });
  if (header.rest.length) {
    out.write(header.rest);
    onChunk(header.rest);
  }
  s.stdout.on('data', onChunk);
  s.stdout.pipe(out, { end: false });
  const stdoutDone = new Promise<void>((resolve) => {
    if (s.stdout.readableEnded || s.stdout.destroyed) return resolve();
    s.stdout.once('end', resolve).once('close', resolve);
  });
  const [status] = await Promise.allSettled([s.done, stdoutDone]);
  s.stdout.unpipe(out);
  // Everything received is in `out`: close it so its size is the resume point.
  await new Promise<void>((resolve, reject) => out.end(() => resolve()).once('error', reject));
  if (overrun) {
    await fsp.rm(part, { force: true });
    throw new SshError(
      `${remotePath} in the pod sent more bytes than its size (${size}): it is growing fast or is not a regular file (a device or a link to one). Nothing was written to this machine.`,
    );
  }
  if (status.status === 'rejected') throw status.reason;
  if (status.value.exitCode !== 0)
    throw new SshError(
      `Download of ${remotePath} failed in the pod: ${stderr() || `exit ${status.value.exitCode ?? status.value.signal}`}.`,
    );
  return { identity: header.line, restart: false };
}

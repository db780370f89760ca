/**
 * Downloads of big pod files (see bulk-transfer.ts for the design): appended to `<local>.kgpu-part`,
 * resumed from its size (`dd skip=N`), checked (size, and sha256 after a resume), then renamed over
 * the local target.
 */
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { PodConnector } from '../ssh/ssh-connection';
import { exec } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { tempSiblingName } from '../util/temp-name';
import { SshAbortedError, SshError } from '../ssh/ssh-errors';
import { sha256File } from '../util/hash';
import { backoff, isRetryable, startWithHeader, TransferRetry, type TransferOptions, type TransferResult } from './bulk-stream';

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
    options,
    script,
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

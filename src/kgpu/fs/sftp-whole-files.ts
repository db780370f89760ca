/**
 * Whole-file operations on one open SFTP session (RemoteFs runs them, with its reconnect and
 * retry around them): a bounded read, an atomic replace (temp file, fsync, chmod, rename over),
 * and a rename that replaces its target atomically where the server offers posix-rename.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { SFTPWrapper, Stats } from 'ssh2';
import { call, callVoid, closeHandle, fstat, hasExtension, openHandle, readRange, writeAll } from '../ssh/sftp-io';
import { tempSiblingName } from '../util/temp-name';
import { RemoteFsError, SFTP_NO_SUCH_FILE, isStatusError } from './remote-fs-error';

const posix = path.posix;

export function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
}

/** The whole file, at most `max` bytes: a file that is bigger — or never ends, like a symlink to
 *  /dev/zero, whose size says 0 — fails with EFBIG after max + 1 bytes. */
export async function readWhole(sftp: SFTPWrapper, p: string, max: number): Promise<Buffer> {
  const h = await openHandle(sftp, p, 'r');
  try {
    const size = (await fstat(sftp, h)).size;
    // Read past the size once more so a file that grew is read to its real end — but never
    // more than the limit + 1 byte, whatever the size said.
    const parts = [await readRange(sftp, h, 0, Math.min(size, max + 1))];
    let pos = parts[0].length;
    while (pos <= max) {
      const more = await readRange(sftp, h, pos, Math.min(1024 * 1024, max + 1 - pos));
      if (more.length === 0) break;
      parts.push(more);
      pos += more.length;
    }
    if (pos > max)
      throw new RemoteFsError(
        'EFBIG',
        p,
        `${p} in the pod is more than ${mib(max)} (or never ends, like a device); it was not read. Use Download… for big files.`,
      );
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  } finally {
    await closeHandle(sftp, h).catch(() => undefined);
  }
}

/** Replace `p` atomically (see RemoteFs.atomicWrite); `removeLater` removes a temp file that could
 *  not be removed on this session. */
export async function atomicReplace(
  sftp: SFTPWrapper,
  p: string,
  buf: Buffer,
  options: { mode?: number; onRename?: () => void },
  removeLater: (tmp: string) => void,
): Promise<void> {
  // A fresh temp name per attempt: a retry must not collide with the cleanup of the last one.
  const tmp = posix.join(posix.dirname(p), tempSiblingName(posix.basename(p), `.kgpu-${randomBytes(6).toString('hex')}.tmp`));
  const existing = await call<Stats>(sftp, (cb) => sftp.stat(p, cb)).catch((e: unknown) => {
    if (isStatusError(e) && e.code === SFTP_NO_SUCH_FILE) return undefined;
    throw e;
  });
  if (existing?.isDirectory()) throw new RemoteFsError('EISDIR', p, `Cannot write ${p} in the pod: it is a directory.`);
  const mode = existing ? existing.mode & 0o7777 : (options.mode ?? 0o644);
  let renamed = false;
  try {
    const h = await openHandle(sftp, tmp, 'w', { mode });
    try {
      await writeAll(sftp, h, buf);
      if (hasExtension(sftp, 'fsync@openssh.com')) await callVoid(sftp, (cb) => sftp.ext_openssh_fsync(h, cb));
    } finally {
      await closeHandle(sftp, h).catch(() => undefined);
    }
    // The server applies the umask at open; set the exact mode before the swap.
    await callVoid(sftp, (cb) => sftp.chmod(tmp, mode, cb));
    options.onRename?.();
    await renameOver(sftp, tmp, p);
    renamed = true;
  } finally {
    if (!renamed) await callVoid(sftp, (cb) => sftp.unlink(tmp, cb)).catch(() => removeLater(tmp));
  }
}

/** Rename `from` over `to`, atomically where the server offers posix-rename@openssh.com. */
export async function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  if (hasExtension(sftp, 'posix-rename@openssh.com')) {
    await callVoid(sftp, (cb) => sftp.ext_openssh_rename(from, to, cb));
    return;
  }
  // No atomic replace offered: remove the target first (a short window without it).
  await callVoid(sftp, (cb) => sftp.unlink(to, cb)).catch(() => undefined);
  await callVoid(sftp, (cb) => sftp.rename(from, to, cb));
}

/**
 * A pod's file system over SFTP (over exec — see sftp-over-exec.ts). One long-lived SFTP
 * connection per pod, reopened transparently when it drops; an idempotent operation that was in
 * flight when it dropped is retried once on the fresh connection (sftp-session.ts). Bulk copies go through
 * bulk-transfer.ts (streamed exec, resumable; the system's OpenSSH client when present — bulk-client.ts). Its stats are in remote-stat.ts, its errors in
 * remote-fs-error.ts, the bodies of its whole-file reads and atomic writes in sftp-whole-files.ts, its streams in sftp-streams.ts.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Stats } from 'ssh2';
import type { PodConnection, PodConnector } from '../ssh/ssh-connection';
import { DEFAULT_SFTP_SERVER } from '../ssh/sftp-over-exec';
import { readdirPipelined } from '../ssh/sftp-readdir';
import { exec } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { call, callVoid, closeHandle, fstat, openHandle, pipelinedWriteStream, writeAll } from '../ssh/sftp-io';
import { download, upload, type TransferOptions, type TransferResult } from '../transfer/bulk-transfer';
import { BulkClient, type BulkClientMode } from '../transfer/bulk-client';
import type { ReconnectPolicy } from '../ssh/reconnect-policy';
import { RemoteFsError, SFTP_NO_SUCH_FILE, isStatusError } from './remote-fs-error';
import { SftpSession } from './sftp-session';
import { atomicReplace, readWhole, renameOver } from './sftp-whole-files';
import { toRemoteStat, type RemoteDirEntry, type RemoteStat } from './remote-stat';
import { readStreamWhenOpen, writeStreamWhenOpen } from './sftp-streams';

const posix = path.posix;

export { RemoteFsError, type RemoteFsErrorCode } from './remote-fs-error';
export type { RemoteDirEntry, RemoteFileType, RemoteStat } from './remote-stat';
export { mib } from './sftp-whole-files';

/** readFile's bound when the caller gives none. */
const DEFAULT_MAX_READ_BYTES = 256 * 1024 * 1024;

export interface RemoteFsOptions {
  /** Path of sftp-server in the pod's image. */
  sftpServerPath?: string;
  /** The pod session's retry policy for bulk transfers (upload/download) that give none (default: bulk-transfer's). */
  reconnect?: ReconnectPolicy;
  /** The SSH client of bulk copies (default 'auto': uploads from `opensshMinBytes` over the system's
   *  OpenSSH when it can, else ssh2; downloads over ssh2. 'openssh': all over OpenSSH, never falling back). */
  bulkClient?: BulkClientMode;
  /** The ssh program for bulk copies (default: the first `ssh` on PATH). */
  sshPath?: string;
  /** Uploads smaller than this stay on ssh2 in 'auto' (default DEFAULT_OPENSSH_MIN_BYTES). */
  opensshMinBytes?: number;
}

/** From this size an upload goes over OpenSSH in 'auto' (a new process and handshake per copy). */
export const DEFAULT_OPENSSH_MIN_BYTES = 16 * 1024 * 1024;

export class RemoteFs {
  private readonly session: SftpSession;
  private disposed = false;
  private bulkNow: BulkClient | undefined;
  /** Round trips the last readdir waited for (sftp-readdir.ts; for the bench and tests). */
  readdirRoundTrips = 0;

  constructor(
    private readonly connector: PodConnector,
    private readonly options: RemoteFsOptions = {},
  ) {
    this.session = new SftpSession(connector, options.sftpServerPath ?? DEFAULT_SFTP_SERVER);
  }

  /**
   * The SSH connection the SFTP session runs on now, and whether the session is still usable
   * (undefined before the first operation and after a drop). WorkspaceFs watches it to notice an
   * operation left hanging when the connection closes under it.
   */
  activeSession(): { readonly conn: PodConnection; readonly alive: boolean } | undefined {
    return this.session.active();
  }

  /** Open the SFTP session now unless it is open (resolves once it is). */
  ensureOpen(): Promise<void> {
    return this.session.ensureOpen();
  }

  // ---- metadata ----------------------------------------------------------------------------

  /** stat, following symlinks; `isSymbolicLink` tells whether `p` itself is a link. */
  stat(p: string): Promise<RemoteStat> {
    return this.session.run('stat', p, true, async (sftp) => {
      // Both requests in flight at once: one round trip.
      const [l, t] = await Promise.allSettled([call<Stats>(sftp, (cb) => sftp.lstat(p, cb)), call<Stats>(sftp, (cb) => sftp.stat(p, cb))]);
      if (l.status === 'rejected') throw l.reason;
      const isLink = l.value.isSymbolicLink();
      if (t.status === 'rejected') {
        if (isLink && isStatusError(t.reason) && t.reason.code === SFTP_NO_SUCH_FILE) return toRemoteStat(l.value, true); // dangling link
        throw t.reason;
      }
      return toRemoteStat(l.value, isLink, t.value);
    });
  }

  /** lstat: a symlink is reported as itself. */
  lstat(p: string): Promise<RemoteStat> {
    return this.session.run('lstat', p, true, async (sftp) => {
      const l = await call<Stats>(sftp, (cb) => sftp.lstat(p, cb));
      return toRemoteStat(l, l.isSymbolicLink(), l.isSymbolicLink() ? undefined : l);
    });
  }

  /** stat, or undefined when nothing is there. */
  async tryStat(p: string): Promise<RemoteStat | undefined> {
    try {
      return await this.stat(p);
    } catch (e) {
      if (e instanceof RemoteFsError && e.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Directory entries with their attributes (from the READDIR replies themselves); symlinks are
   *  followed (their targets stat'ed in parallel) so `type` is what they point to. */
  readdir(dir: string): Promise<RemoteDirEntry[]> {
    return this.session.run('readdir', dir, true, async (sftp) => {
      const { entries: list, roundTrips } = await readdirPipelined(sftp, dir);
      this.readdirRoundTrips = roundTrips;
      const entries = list.filter((e) => e.filename !== '.' && e.filename !== '..');
      return Promise.all(
        entries.map(async (e) => {
          const attrs = e.attrs;
          if (!attrs.isSymbolicLink()) return { name: e.filename, stat: toRemoteStat(attrs, false, attrs) };
          const t = await call<Stats>(sftp, (cb) => sftp.stat(posix.join(dir, e.filename), cb)).catch(() => undefined);
          return { name: e.filename, stat: toRemoteStat(attrs, true, t) };
        }),
      );
    });
  }

  realpath(p: string): Promise<string> {
    return this.session.run('realpath', p, true, (sftp) => call<string>(sftp, (cb) => sftp.realpath(p, cb)));
  }

  readlink(p: string): Promise<string> {
    return this.session.run('readlink', p, true, (sftp) => call<string>(sftp, (cb) => sftp.readlink(p, cb)));
  }

  symlink(target: string, linkPath: string): Promise<void> {
    return this.session.run('symlink', linkPath, false, (sftp) => callVoid(sftp, (cb) => sftp.symlink(target, linkPath, cb)));
  }

  chmod(p: string, mode: number): Promise<void> {
    return this.session.run('chmod', p, true, (sftp) => callVoid(sftp, (cb) => sftp.chmod(p, mode, cb)));
  }

  // ---- whole files -------------------------------------------------------------------------

  /** The whole file, at most `maxBytes` (default 256 MiB): a file that is bigger — or never ends,
   *  like a symlink to /dev/zero, whose size says 0 — fails with EFBIG after limit + 1 bytes. */
  readFile(p: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const max = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    return this.session.run('read', p, true, (sftp) => readWhole(sftp, p, max));
  }

  /** Truncate-and-write (not atomic; see atomicWrite). Creates the file with `mode` (default 0o644). */
  writeFile(p: string, data: Buffer | string, options: { mode?: number } = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.session.run('write', p, true, async (sftp) => {
      const h = await openHandle(sftp, p, 'w', { mode: options.mode ?? 0o644 });
      try {
        await writeAll(sftp, h, buf);
      } finally {
        await closeHandle(sftp, h).catch(() => undefined);
      }
    });
  }

  /** Replace `p` atomically: write a temp file in the same directory, fsync it (when the server
   *  offers fsync@openssh.com), rename it over `p` (posix-rename). Keeps `p`'s mode if it exists.
   *  On failure the temp file is removed and `p` is untouched — unless the connection dropped after
   *  the rename was sent (`onRename` is called just before): then `p` holds the old or the new
   *  content, whole, and only the pod knows which. */
  atomicWrite(p: string, data: Buffer | string, options: { mode?: number; onRename?: () => void } = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.session.run('atomic write', p, true, (sftp) => atomicReplace(sftp, p, buf, options, (tmp) => this.removeLater(tmp)));
  }

  /** Best effort removal on a fresh connection (the temp of a write whose connection dropped). */
  private removeLater(p: string): void {
    void this.session.run('remove', p, true, (sftp) => callVoid(sftp, (cb) => sftp.unlink(p, cb))).catch(() => undefined);
  }

  /** Rename; with `overwrite` an existing file at `to` is replaced atomically, without it an
   *  existing `to` fails with EEXIST. */
  rename(from: string, to: string, options: { overwrite: boolean }): Promise<void> {
    return this.session.run('rename', from, false, async (sftp) => {
      if (options.overwrite) return renameOver(sftp, from, to);
      const exists = await call<Stats>(sftp, (cb) => sftp.lstat(to, cb)).then(
        () => true,
        (e: unknown) => {
          if (isStatusError(e) && e.code === SFTP_NO_SUCH_FILE) return false;
          throw e;
        },
      );
      if (exists) throw new RemoteFsError('EEXIST', to, `Cannot rename ${from} to ${to} in the pod: ${to} already exists.`);
      // Plain SFTP rename never replaces an existing file on OpenSSH's server.
      await callVoid(sftp, (cb) => sftp.rename(from, to, cb));
    });
  }

  unlink(p: string): Promise<void> {
    return this.session.run('delete', p, false, (sftp) => callVoid(sftp, (cb) => sftp.unlink(p, cb)));
  }

  // ---- streams -----------------------------------------------------------------------------

  /** A pipelined read stream (many requests in flight). Not retried if the connection drops. */
  createReadStream(p: string, options: { start?: number; end?: number } = {}): Readable {
    const opened = this.session.run('read', p, true, (sftp) => openHandle(sftp, p, 'r').then((h) => ({ sftp, h })));
    return readStreamWhenOpen(opened, options.start ?? 0, options.end === undefined ? Infinity : options.end + 1);
  }

  /** A pipelined write stream (truncates `p`); 'finish' once every byte is acknowledged and the file closed. */
  createWriteStream(p: string, options: { mode?: number; append?: boolean } = {}): Writable {
    const opened = this.session.run('write', p, true, async (sftp) => {
      const h = await openHandle(sftp, p, options.append ? 'a' : 'w', { mode: options.mode ?? 0o644 });
      const start = options.append ? (await fstat(sftp, h)).size : 0;
      return pipelinedWriteStream(sftp, h, start);
    });
    return writeStreamWhenOpen(opened);
  }

  // ---- directories -------------------------------------------------------------------------

  /** mkdir -p. */
  async mkdirp(dir: string): Promise<void> {
    const st = await this.tryStat(dir);
    if (st) {
      if (st.type === 'directory') return;
      throw new RemoteFsError('ENOTDIR', dir, `Cannot create directory ${dir} in the pod: a file is in the way.`);
    }
    const parent = posix.dirname(dir);
    if (parent !== dir) await this.mkdirp(parent);
    await this.session
      .run('mkdir', dir, false, (sftp) => callVoid(sftp, (cb) => sftp.mkdir(dir, cb)))
      .catch(async (e: unknown) => {
        // Lost a race with another mkdir, or a retry after a drop: fine if it is a directory now.
        if ((await this.tryStat(dir))?.type !== 'directory') throw e;
      });
  }

  /** rm -rf in the pod (one exec instead of a round trip per file). */
  async rmrf(p: string): Promise<void> {
    const norm = posix.normalize(p);
    if (norm === '/' || norm === '.' || norm === '' || norm === '//')
      throw new Error(`Refusing to remove ${JSON.stringify(p)} recursively.`);
    const r = await exec(this.connector, `rm -rf -- ${quote(norm)}`);
    if (r.exitCode !== 0) {
      throw new RemoteFsError(
        'EIO',
        p,
        `Removing ${p} in the pod failed: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode ?? r.signal}`}`,
      );
    }
  }

  // ---- bulk transfers ----------------------------------------------------------------------

  /** Copy a local file to the pod (streamed, resumable, atomic replace of the target). */
  upload(localPath: string, remotePath: string, options: TransferOptions = {}): Promise<TransferResult> {
    return fsp.stat(localPath).then((st) => {
      // Small files stay on ssh2 (spare connections, no new process and handshake per file: a
      // folder upload sends many); OpenSSH only pays off where the CPU per byte dominates.
      const big = st.size >= (this.options.opensshMinBytes ?? DEFAULT_OPENSSH_MIN_BYTES);
      const streams = big || this.options.bulkClient === 'openssh' ? this.bulk() : undefined;
      return upload(this.connector, localPath, remotePath, { reconnect: this.options.reconnect, streams, ...options });
    });
  }

  /** Copy a pod file to a local path (streamed, resumable, atomic replace of the local file). */
  download(remotePath: string, localPath: string, options: TransferOptions = {}): Promise<TransferResult> {
    // Downloads stay on ssh2 unless OpenSSH is forced: measured faster than OpenSSH through the
    // same bastion (test/bench/openssh-bulk.ts; README, Performance).
    const streams = this.options.bulkClient === 'openssh' ? this.bulk() : undefined;
    return download(this.connector, remotePath, localPath, { reconnect: this.options.reconnect, streams, ...options });
  }

  /** The client bulk copies use (made on first use). */
  bulk(): BulkClient {
    if (this.disposed) throw new Error('The pod file system was disposed.');
    this.bulkNow ??= new BulkClient(this.connector, { mode: this.options.bulkClient, sshPath: this.options.sshPath });
    return this.bulkNow;
  }

  /** Close the SFTP connection. */
  dispose(): void {
    this.disposed = true;
    this.bulkNow?.dispose();
    this.session.dispose();
  }
}

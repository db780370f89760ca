/**
 * One pod's file system as the editor needs it (the logic of the `kgpu:` FileSystemProvider,
 * without `vscode`): stat / readDirectory / readFile / writeFile / createDirectory / delete /
 * rename / copy / watch over RemoteFs (SFTP over exec), with
 * - a short-lived stat/listing cache (fresh for `cacheTtlMs`) that our own writes update and
 *   watch events invalidate; VS Code's probes (`.vscode`, `.git`, `pyproject.toml`, …) are answered
 *   from the parent's listing (one round trip for all of them, none when it is cached);
 * - atomic saves (temp file beside the target, renamed over it: a dropped connection never leaves
 *   a truncated file) and an mtime that advances on every write even within SFTP's 1 s resolution;
 * - the create/overwrite rules of `vscode.FileSystemProvider.writeFile`/`rename`/`copy`;
 * - `copy` done inside the pod (`cp -a` over exec), never a download/upload;
 * - reconnects: RemoteFs retries idempotent operations once on a fresh connection; the others
 *   (delete, rename, mkdir) check whether they took effect and otherwise run once more;
 * - after the pod ended: reads come from the cache (read-only), everything else fails with
 *   "pod ended: <reason>".
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { PodConnector } from '../ssh/ssh-connection';
import { RemoteFs, RemoteFsError, type RemoteStat } from './remote-fs';
import { exec } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { MAX_NAME_BYTES, tempSiblingName } from '../util/temp-name';
import { ConnectionLostError } from '../ssh/ssh-errors';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { WorkspaceFsCache } from './workspace-fs-cache';
import { ChangeCoalescer, type PathChange } from '../util/change-coalescer';
import { PodWatcher, type WatchMode } from './pod-watcher';
import { WorkspaceFsError, classify, fsError, isTransportError } from './workspace-fs-error';
import type { ReconnectPolicy } from '../ssh/reconnect-policy';
import { assertNameLength, longestNameBytes, norm } from './pod-paths';
import { ensureSession, guardSession, lexists, lstatOrUndefined, readStreamed, retryIfLost, StuckOnLostSession } from './lost-session';

export type { PathChange, ChangeType } from '../util/change-coalescer';
export { WorkspaceFsError, type WorkspaceFsErrorKind } from './workspace-fs-error';

const posix = path.posix;

/** Same values as `vscode.FileType` (a bit mask: a symlink to a file is File | SymbolicLink). */
export const FileKind = { Unknown: 0, File: 1, Directory: 2, SymbolicLink: 64 } as const;

export interface WorkspaceStat {
  /** FileKind bits. */
  type: number;
  /** Milliseconds since the epoch (SFTP has no ctime: the mtime). */
  ctime: number;
  mtime: number;
  size: number;
  /** The user may not write it (its mode says so, or the pod has ended). */
  readonly: boolean;
}

export interface WatchHandle extends Disposable {
  /** Resolves when events are being delivered (how: inotify in the pod, or polling). */
  readonly ready: Promise<'inotify' | 'poll'>;
}

export interface WorkspaceFsOptions {
  podId: string;
  /** The pod's connector, asked before each operation (a new one after a key rotation is picked up). */
  connector: () => Promise<PodConnector>;
  /** The pod's SFTP as its PodSession holds it (shared with uploads and downloads, and not closed
   *  here); without it the file system opens its own over `connector`. */
  sftp?: () => Promise<{ connector: PodConnector; rfs: RemoteFs }>;
  /** Paths changed in the pod behind the file system's back (PodSession.onDidChangePaths: an upload,
   *  a sync): their cached answers are forgotten and the change is reported. */
  onDidChangePaths?: Event<PathChange[]>;
  /** Largest file readFile returns and writeFile accepts (default 256 MiB); larger ones fail with a "use Download…/Upload…" message. */
  maxFileBytes?: () => number;
  /** How long stat/listing answers are reused (default 2000 ms). */
  cacheTtlMs?: number;
  /** Asked after a transport failure: the end reason (in words) when the pod has ended, else undefined. */
  checkEnded?: () => Promise<string | undefined>;
  watchMode?: WatchMode;
  /** The pod session's retry policy for the watch's reconnects (tests shorten it). */
  watchReconnect?: ReconnectPolicy;
  pollIntervalMs?: number;
  /** Events are delivered at most this often (default 75 ms), merged per path. */
  debounceMs?: number;
  /** The watch's echo of our own change within this long is dropped unchecked (default 1500 ms);
   *  a later one only when the pod's file is still what we wrote (tests set 0 to take that path). */
  ownEchoMs?: number;
  /** Folders whose contents recursive watches skip (default .git, node_modules, __pycache__, .kgpu). */
  watchExcludeNames?: readonly string[];
  sftpServerPath?: string;
}

/** Names VS Code and its extensions look for when a folder opens. A stat for one of them lists the
 *  parent instead (one round trip answers all the siblings' probes too). */
const PROBES = new Set([
  '.vscode',
  '.git',
  'node_modules',
  'pyproject.toml',
  'package.json',
  'settings.json',
  'tasks.json',
  'launch.json',
  'extensions.json',
  '.devcontainer',
  '.editorconfig',
  'tsconfig.json',
  'jsconfig.json',
  'requirements.txt',
  'setup.py',
  'setup.cfg',
  '.gitignore',
  '.gitattributes',
  '.env',
  '.venv',
  'venv',
  'Pipfile',
  'environment.yml',
  '.python-version',
  '.github',
  'mcp.json',
  '.code-workspace',
  'AGENTS.md',
  'CLAUDE.md',
  '.cursorrules',
  'pyrightconfig.json',
  'tox.ini',
]);

/** Temp files of our own atomic writes, uploads and copies: hidden from listings and watch events. */
const TEMP_NAME = /\.kgpu-(?:[0-9a-f]{12}\.tmp|upload-[0-9a-f]{12}|copy-[0-9a-f]{12}|transit-[0-9a-f]{12})$/;

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

const STREAM_ABOVE = 16 * 1024 * 1024;
/** The watch's echo of our own change within this long is dropped unseen… */
const OWN_ECHO_MS = 1500;
/** …and up to this long (a loaded machine, a slow link) it is dropped when the pod's file is still
 *  what we wrote (same mtime and size) or, for a delete, when we deleted it. */
const OWN_ECHO_CHECK_MS = 60_000;

export class WorkspaceFs implements Disposable {
  readonly podId: string;
  private readonly cache: WorkspaceFsCache;
  private readonly changes = new Emitter<PathChange[]>();
  /** Files and folders changed — by us, or in the pod (watch). */
  readonly onDidChange: Event<PathChange[]> = this.changes.event;
  private readonly ended = new Emitter<string>();
  /** The pod ended (reason in words); the file system is read-only from the cache from now on. */
  readonly onDidEnd: Event<string> = this.ended.event;
  private endReason: string | undefined;
  private readonly coalescer: ChangeCoalescer;
  private current: { connector: PodConnector; rfs: RemoteFs; owned: boolean } | undefined;
  private readonly pathsSubscription: Disposable | undefined;
  private identity: Promise<{ uid: number; gids: Set<number> } | undefined> | undefined;
  private knownIdentity: { uid: number; gids: Set<number> } | undefined;
  /** What we last reported per path: mtime kept monotonic across writes within one second. */
  private readonly reported = new Map<string, { remoteMs: number; size: number; mtime: number }>();
  private readonly recentOwn = new Map<string, { at: number; type?: PathChange['type'] }>();
  /** Watch events for paths we were changing at the time, judged when our change is done. */
  private readonly held = new Map<string, PathChange>();
  private heldTimer: NodeJS.Timeout | undefined;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly watchers = new Map<string, { watcher: PodWatcher; refs: number; recursive: boolean }>();
  private generation = 0;
  private disposed = false;

  constructor(private readonly options: WorkspaceFsOptions) {
    this.podId = options.podId;
    this.cache = new WorkspaceFsCache({ ttlMs: options.cacheTtlMs ?? 2000 });
    this.coalescer = new ChangeCoalescer(options.debounceMs ?? 75, (c) => this.changes.fire(c));
    this.pathsSubscription = options.onDidChangePaths?.((changes) => {
      if (!this.disposed) this.noteChanged(changes);
    });
  }

  /** Close the SFTP this file system opened itself (a session's is the session's to close). */
  private dropConnection(): void {
    if (this.current?.owned) this.current.rfs.dispose();
    this.current = undefined;
  }

  /** The end reason when the pod has ended. */
  get endedReason(): string | undefined {
    return this.endReason;
  }

  /** The pod ended: stop watching, freeze the cache (reads keep working from it), fail writes. */
  markEnded(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.cache.frozen = true;
    for (const w of this.watchers.values()) w.watcher.dispose();
    this.watchers.clear();
    this.dropConnection();
    this.ended.fire(reason);
  }

  // ---- plumbing --------------------------------------------------------------------------------

  /** The pod's RemoteFs and connector (for uploads/downloads beside the editor). */
  async connection(): Promise<{ connector: PodConnector; rfs: RemoteFs }> {
    if (this.disposed) throw new Error('The pod file system was disposed.');
    if (this.options.sftp) {
      const shared = await this.options.sftp();
      if (this.current?.rfs !== shared.rfs) {
        this.dropConnection();
        this.current = { ...shared, owned: false };
        this.identity = undefined;
      }
    } else {
      const connector = await this.options.connector();
      if (this.current?.connector !== connector) {
        this.dropConnection();
        this.current = { connector, rfs: new RemoteFs(connector, { sftpServerPath: this.options.sftpServerPath }), owned: true };
        this.identity = undefined;
      }
    }
    const connector = this.current.connector;
    if (!this.identity) {
      const id = this.fetchIdentity(connector);
      this.identity = id;
      void id.then((v) => (this.knownIdentity = v));
    }
    return this.current;
  }

  private async fetchIdentity(connector: PodConnector): Promise<{ uid: number; gids: Set<number> } | undefined> {
    try {
      const r = await exec(connector, 'id -u; id -G');
      const [uid, gids] = r.stdout.toString('utf8').trim().split('\n');
      const u = Number(uid);
      if (r.exitCode !== 0 || !Number.isInteger(u)) return undefined;
      return { uid: u, gids: new Set((gids ?? '').split(/\s+/).filter(Boolean).map(Number)) };
    } catch {
      return undefined;
    }
  }

  private endedError(p: string): WorkspaceFsError {
    return fsError('PodEnded', this.podId, p, this.endReason ?? 'unknown reason');
  }

  /** A transport failure: has the pod ended (then say so), or is it just unreachable? */
  private async transportFailure(e: unknown, p: string): Promise<WorkspaceFsError> {
    if (this.endReason !== undefined) return this.endedError(p);
    const reason = await this.options.checkEnded?.().catch(() => undefined);
    if (reason !== undefined) {
      this.markEnded(reason);
      return this.endedError(p);
    }
    if (e instanceof WorkspaceFsError) return e;
    if (isTransportError(e)) return classify(e, this.podId, p);
    return fsError('Unavailable', this.podId, p, e instanceof Error ? e.message : String(e), e);
  }

  /** Run `fn` against the pod, classifying failures. `idempotent` operations are run once more
   *  when the SFTP connection dropped under them and left them hanging (see guardSession). */
  private async run<T>(
    p: string,
    fn: (rfs: RemoteFs, connector: PodConnector) => Promise<T>,
    options: { idempotent?: boolean } = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.endReason !== undefined) throw this.endedError(p);
      let c: { connector: PodConnector; rfs: RemoteFs };
      try {
        c = await this.connection();
        await ensureSession(c.rfs);
      } catch (e) {
        // Opening the session is always safe to repeat: a connection lost while opening it (a
        // pre-connected spare whose link just died) gets one fresh try.
        if (e instanceof ConnectionLostError && attempt === 0 && !this.disposed) continue;
        throw await this.transportFailure(e, p);
      }
      try {
        return await guardSession(c.rfs, () => fn(c.rfs, c.connector));
      } catch (e) {
        if (e instanceof WorkspaceFsError) throw e;
        if (e instanceof StuckOnLostSession && options.idempotent && attempt === 0 && !this.disposed) continue;
        if (isTransportError(e)) throw await this.transportFailure(e, p);
        throw classify(e, this.podId, p);
      }
    }
  }

  /** Share one in-flight request per key (VS Code often asks the same thing several times at once). */
  private shared<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key) as Promise<T> | undefined;
    if (existing) return existing;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private toStat(p: string, st: RemoteStat): WorkspaceStat {
    let type: number = st.type === 'directory' ? FileKind.Directory : st.type === 'file' ? FileKind.File : FileKind.Unknown;
    if (st.isSymbolicLink) type |= FileKind.SymbolicLink;
    const o = this.reported.get(p);
    let mtime = st.mtimeMs;
    if (o && o.remoteMs === st.mtimeMs && o.size === st.size) mtime = o.mtime;
    else if (o) this.reported.delete(p);
    return { type, ctime: mtime, mtime, size: st.size, readonly: this.endReason !== undefined || !this.canWrite(st) };
  }

  private canWrite(st: RemoteStat): boolean {
    const id = this.knownIdentity;
    if (!id) return (st.mode & 0o200) !== 0;
    // root may write anything, but a file nobody may write is meant to be read-only.
    if (id.uid === 0) return (st.mode & 0o222) !== 0;
    if (st.uid === id.uid) return (st.mode & 0o200) !== 0;
    if (id.gids.has(st.gid)) return (st.mode & 0o020) !== 0;
    return (st.mode & 0o002) !== 0;
  }

  /** Record a stat we got right after writing `p`: mtime strictly after what we reported before. */
  private noteWritten(p: string, st: RemoteStat, previousMtime: number | undefined): void {
    const mtime = previousMtime === undefined ? st.mtimeMs : Math.max(st.mtimeMs, previousMtime + 1);
    this.reported.set(p, { remoteMs: st.mtimeMs, size: st.size, mtime });
    if (this.reported.size > 10_000) this.reported.delete(this.reported.keys().next().value as string);
    this.cache.putStat(p, st);
  }

  private lastMtime(p: string): number | undefined {
    const o = this.reported.get(p);
    if (o) return o.mtime;
    const c = this.cache.stat(p);
    return c ? c.mtimeMs : undefined;
  }

  /** We are about to change these paths: the watch's echo of it is not news (from now until
   *  OWN_ECHO_MS after we announce it ourselves). */
  private expectOwn(paths: string[]): void {
    this.generation++;
    const now = Date.now();
    for (const p of paths) this.recentOwn.set(p, { at: now });
  }

  private own(changes: PathChange[]): void {
    this.generation++;
    const now = Date.now();
    for (const c of changes) this.recentOwn.set(c.path, { at: now, type: c.type });
    const held = changes.flatMap((c) => {
      const e = this.held.get(c.path);
      this.held.delete(c.path);
      return e ? [e] : [];
    });
    if (held.length) void this.unlessEchoes(held);
    if (this.recentOwn.size > 1000) {
      for (const [k, o] of this.recentOwn) if (now - o.at > OWN_ECHO_CHECK_MS) this.recentOwn.delete(k);
    }
    this.changes.fire(changes);
  }

  /** Something else of ours (an upload) changed these paths: forget cached answers and tell listeners. */
  noteChanged(changes: PathChange[]): void {
    for (const c of changes) {
      if (c.type === 'deleted') this.cache.invalidateTree(c.path);
      else this.cache.invalidate(c.path);
    }
    this.own(changes);
  }

  // ---- metadata --------------------------------------------------------------------------------

  async stat(uriPath: string): Promise<WorkspaceStat> {
    const p = norm(uriPath);
    if (longestNameBytes(p) > MAX_NAME_BYTES) throw fsError('NotFound', this.podId, p, ''); // cannot exist
    const cached = this.cache.stat(p);
    if (cached === null) throw fsError('NotFound', this.podId, p, '');
    if (cached) return this.toStat(p, cached);
    if (this.endReason !== undefined) throw this.endedError(p);
    const parent = posix.dirname(p);
    if (PROBES.has(posix.basename(p)) && parent !== p) {
      // List the parent once: this and every sibling probe are answered from it.
      const listed = await this.listing(parent).then(
        () => true,
        () => false,
      );
      if (listed) {
        const again = this.cache.stat(p);
        if (again === null) throw fsError('NotFound', this.podId, p, '');
        if (again) return this.toStat(p, again);
      }
    }
    const gen = this.generation;
    const st = await this.shared(`stat:${p}`, () =>
      this.run(
        p,
        async (rfs) => {
          const s = await rfs.tryStat(p);
          await this.identity;
          return s;
        },
        { idempotent: true },
      ),
    );
    if (gen === this.generation) this.cache.putStat(p, st ?? null);
    if (!st) throw fsError('NotFound', this.podId, p, '');
    return this.toStat(p, st);
  }

  private async listing(dir: string): Promise<Map<string, RemoteStat>> {
    const cached = this.cache.listing(dir);
    if (cached) return cached;
    if (this.endReason !== undefined) throw this.endedError(dir);
    const gen = this.generation;
    const entries = await this.shared(`ls:${dir}`, () =>
      this.run(
        dir,
        async (rfs) => {
          try {
            const list = await rfs.readdir(dir);
            await this.identity;
            return list;
          } catch (e) {
            const err = classify(e, this.podId, dir);
            if (err.kind === 'Other' || err.kind === 'NotFound') {
              // sftp-server answers "no such file" (ENOTDIR) or "failure" for opendir on a file.
              const st = await rfs.tryStat(dir).catch(() => undefined);
              if (st && st.type !== 'directory') throw fsError('NotADirectory', this.podId, dir, '');
            }
            throw err;
          }
        },
        { idempotent: true },
      ),
    );
    const map = new Map(entries.filter((e) => !isTempName(e.name)).map((e) => [e.name, e.stat] as [string, RemoteStat]));
    if (gen === this.generation) this.cache.putListing(dir, map);
    return map;
  }

  /** Names and FileKind bits of a folder's entries (one READDIR round trip; symlink targets stat'ed in parallel). */
  async readDirectory(uriPath: string): Promise<[string, number][]> {
    const p = norm(uriPath);
    const map = await this.listing(p);
    return [...map].map(([name, st]) => [name, this.toStat(posix.join(p, name), st).type]);
  }

  // ---- contents --------------------------------------------------------------------------------

  async readFile(uriPath: string): Promise<Uint8Array> {
    const p = norm(uriPath);
    if (this.endReason !== undefined) {
      const c = this.cache.content(p);
      if (c) return c;
      throw this.endedError(p);
    }
    const max = this.options.maxFileBytes?.() ?? 256 * 1024 * 1024;
    return this.run(
      p,
      async (rfs) => {
        const st = this.cache.stat(p) ?? (await rfs.stat(p));
        if (st.type === 'directory') throw fsError('IsADirectory', this.podId, p, '');
        const tooLarge = (size: number | undefined): WorkspaceFsError =>
          fsError(
            'TooLarge',
            this.podId,
            p,
            `It is ${size === undefined ? 'more than ' + mb(max) : mb(size)}; the limit is ${mb(max)} (setting kgpu.maxEditorFileSizeMB). Use "kgpu: Download…" to copy it to this machine instead.`,
          );
        if (st.size > max) throw tooLarge(st.size);
        const hit = this.cache.content(p, st);
        if (hit) return hit;
        // Bounded whatever the size said (a symlink to /dev/zero says 0 and never ends).
        const data =
          st.size <= STREAM_ABOVE
            ? await rfs.readFile(p, { maxBytes: max }).catch((e: unknown) => {
                throw e instanceof RemoteFsError && e.code === 'EFBIG' ? tooLarge(undefined) : e;
              })
            : await readStreamed(rfs, p, max);
        if (data.length > max) throw tooLarge(data.length);
        this.cache.putContent(p, data, { ...st, size: data.length });
        return data;
      },
      { idempotent: true },
    );
  }

  /** Write a file atomically with `vscode.FileSystemProvider.writeFile`'s create/overwrite rules. */
  async writeFile(uriPath: string, content: Uint8Array, flags: { create: boolean; overwrite: boolean }): Promise<void> {
    const p = norm(uriPath);
    assertNameLength(this.podId, p);
    if (this.endReason !== undefined) throw this.endedError(p);
    const max = this.options.maxFileBytes?.() ?? 256 * 1024 * 1024;
    if (content.byteLength > max) {
      // Refused before anything is sent: the pod's copy stays as it was, the editor keeps the text.
      throw fsError(
        'TooLarge',
        this.podId,
        p,
        `Not saved: it is ${mb(content.byteLength)}; the limit is ${mb(max)} (setting kgpu.maxEditorFileSizeMB). Save it locally and use "kgpu: Upload…" instead.`,
      );
    }
    const data = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    let existed: boolean | undefined;
    if (!flags.create || !flags.overwrite) {
      await this.run(
        p,
        async (rfs) => {
          const st = await rfs.tryStat(p);
          existed = st !== undefined;
          if (!st && !flags.create) throw fsError('NotFound', this.podId, p, 'Nothing to overwrite.');
          if (st?.type === 'directory') throw fsError('IsADirectory', this.podId, p, '');
          if (st && !flags.overwrite) throw fsError('Exists', this.podId, p, '');
        },
        { idempotent: true },
      );
    } else {
      const c = this.cache.stat(p);
      if (c?.type === 'directory') throw fsError('IsADirectory', this.podId, p, '');
      existed = c === undefined ? undefined : c !== null;
    }
    // From here on a retry is safe: the write replaces the file atomically under a fresh temp name.
    const previous = this.lastMtime(p);
    let renameSent = false;
    let saved = false;
    try {
      await this.run(
        p,
        async (rfs) => {
          if (!saved) {
            this.expectOwn([p]);
            await rfs.atomicWrite(p, data, { onRename: () => (renameSent = true) });
            saved = true;
            this.cache.invalidate(p);
          }
          const st = await rfs.stat(p);
          this.noteWritten(p, st, previous);
          this.cache.putContent(p, new Uint8Array(data), st);
        },
        { idempotent: true },
      );
    } catch (e) {
      // The pod acknowledged the rename: the file is saved; only the stat after it was lost (the
      // next stat asks the pod again). A rename sent but not acknowledged may have landed: what
      // we cached of the file may be stale.
      if (renameSent) this.cache.invalidate(p);
      if (!saved) throw e instanceof WorkspaceFsError && e.kind === 'Unavailable' ? notSaved(e, renameSent) : e;
    }
    this.own([{ type: existed === true ? 'changed' : 'created', path: p }]);
  }

  // ---- structure -------------------------------------------------------------------------------

  async createDirectory(uriPath: string): Promise<void> {
    const p = norm(uriPath);
    assertNameLength(this.podId, p);
    await this.run(p, async (rfs) => {
      const [st, parent] = await Promise.all([rfs.tryStat(p), rfs.tryStat(posix.dirname(p))]);
      if (st) throw fsError('Exists', this.podId, p, '');
      if (!parent) throw fsError('NotFound', this.podId, posix.dirname(p), 'The parent folder does not exist.');
      if (parent.type !== 'directory') throw fsError('NotADirectory', this.podId, posix.dirname(p), '');
      this.expectOwn([p]);
      await retryIfLost(
        () => rfs.mkdirp(p),
        async () => (await rfs.tryStat(p))?.type === 'directory',
      );
      this.cache.invalidate(p);
    });
    this.own([{ type: 'created', path: p }]);
  }

  async delete(uriPath: string, options: { recursive: boolean }): Promise<void> {
    const p = norm(uriPath);
    if (p === '/') throw fsError('NoPermissions', this.podId, p, 'Refusing to delete the root folder.');
    await this.run(p, async (rfs, connector) => {
      const st = await rfs.lstat(p);
      this.expectOwn([p]);
      if (st.type === 'directory' && !st.isSymbolicLink) {
        if (options.recursive) await rfs.rmrf(p);
        else {
          const r = await exec(connector, `rmdir -- ${quote(p)}`);
          if (r.exitCode !== 0) {
            throw fsError(
              'Other',
              this.podId,
              p,
              `${r.stderr.toString('utf8').trim() || 'rmdir failed'}; delete it recursively to remove its contents.`,
            );
          }
        }
      } else {
        await retryIfLost(
          () => rfs.unlink(p),
          async () => (await rfs.tryStat(p)) === undefined && !(await lexists(rfs, p)),
        );
      }
      this.cache.invalidateTree(p);
      this.cache.putStat(p, null);
    });
    this.own([{ type: 'deleted', path: p }]);
  }

  async rename(fromPath: string, toPath: string, options: { overwrite: boolean }): Promise<void> {
    const from = norm(fromPath);
    const to = norm(toPath);
    if (from === to) return;
    assertNameLength(this.podId, to);
    if (to.startsWith(`${from}/`)) throw fsError('Other', this.podId, to, `Cannot move ${from} into itself.`);
    let replaced = false;
    await this.run(from, async (rfs) => {
      const [src, dst, parent] = await Promise.all([
        lstatOrUndefined(rfs, from),
        lstatOrUndefined(rfs, to),
        rfs.tryStat(posix.dirname(to)),
      ]);
      if (!src) throw fsError('NotFound', this.podId, from, '');
      if (!parent) throw fsError('NotFound', this.podId, posix.dirname(to), 'The target folder does not exist.');
      if (dst && !options.overwrite) throw fsError('Exists', this.podId, to, '');
      replaced = dst !== undefined;
      this.expectOwn([from, to]);
      if (dst && dst.type === 'directory' && !dst.isSymbolicLink) await rfs.rmrf(to);
      await retryIfLost(
        () => rfs.rename(from, to, { overwrite: true }),
        async () => !(await lexists(rfs, from)) && (await lexists(rfs, to)),
      );
      this.cache.invalidateTree(from);
      this.cache.invalidateTree(to);
      this.cache.putStat(from, null);
    });
    this.reported.delete(from);
    this.reported.delete(to);
    this.own([
      { type: 'deleted', path: from },
      { type: replaced ? 'changed' : 'created', path: to },
    ]);
  }

  /** Copy inside the pod (`cp -a`, into a temp name then moved over the target). */
  async copy(fromPath: string, toPath: string, options: { overwrite: boolean }): Promise<void> {
    const from = norm(fromPath);
    const to = norm(toPath);
    assertNameLength(this.podId, to);
    if (from === to || to.startsWith(`${from}/`)) throw fsError('Other', this.podId, to, `Cannot copy ${from} onto or into itself.`);
    let replaced = false;
    await this.run(from, async (rfs, connector) => {
      const [src, dst, parent] = await Promise.all([rfs.tryStat(from), lstatOrUndefined(rfs, to), rfs.tryStat(posix.dirname(to))]);
      if (!src) throw fsError('NotFound', this.podId, from, '');
      if (!parent) throw fsError('NotFound', this.podId, posix.dirname(to), 'The target folder does not exist.');
      if (dst && !options.overwrite) throw fsError('Exists', this.podId, to, '');
      replaced = dst !== undefined;
      const tmp = posix.join(posix.dirname(to), tempSiblingName(posix.basename(to), `.kgpu-copy-${randomBytes(6).toString('hex')}`));
      const script = [
        `s=${quote(from)}; d=${quote(to)}; t=${quote(tmp)}`,
        'cp -a -- "$s" "$t" || { r=$?; rm -rf -- "$t"; exit $r; }',
        'if [ -d "$d" ] && [ ! -L "$d" ]; then rm -rf -- "$d" || { rm -rf -- "$t"; exit 1; }; fi',
        'mv -f -T -- "$t" "$d" || { r=$?; rm -rf -- "$t"; exit $r; }',
      ].join('\n');
      this.expectOwn([to]);
      const r = await exec(connector, script);
      if (r.exitCode !== 0) {
        throw fsError(
          'Other',
          this.podId,
          to,
          `Copying ${from} in the pod failed: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode ?? r.signal}`}.`,
        );
      }
      this.cache.invalidateTree(to);
    });
    this.reported.delete(to);
    this.own([{ type: replaced ? 'changed' : 'created', path: to }]);
  }

  // ---- watch -----------------------------------------------------------------------------------

  /** Watch a folder (recursively or not) or a file for changes made in the pod. Watches covered by
   *  a running recursive watch share it; each other watch runs over its own connection. */
  watch(uriPath: string, options: { recursive: boolean }): WatchHandle {
    const p = norm(uriPath);
    const excludeNames = this.options.watchExcludeNames ?? ['.git', 'node_modules', '__pycache__', '.kgpu'];
    if (this.endReason !== undefined || this.disposed) return { ready: new Promise(() => undefined), dispose: () => undefined };
    let key = `${options.recursive ? 'r' : 'n'}:${p}`;
    for (const [k, w] of this.watchers) {
      if (!w.recursive) continue;
      const root = k.slice(2);
      const rel = p === root ? '' : p.startsWith(root === '/' ? '/' : `${root}/`) ? p.slice(root.length) : undefined;
      if (rel !== undefined && !rel.split('/').some((seg) => excludeNames.includes(seg))) {
        key = k;
        break;
      }
    }
    let entry = this.watchers.get(key);
    if (!entry) {
      const watcher = new PodWatcher({
        connector: this.options.connector,
        root: p,
        recursive: options.recursive,
        mode: this.options.watchMode,
        pollIntervalMs: this.options.pollIntervalMs,
        excludeNames: options.recursive ? excludeNames : [],
        onChanges: (c) => this.remoteChanges(c),
        shouldStop: () => this.endReason !== undefined || this.disposed,
        reconnect: this.options.watchReconnect,
      });
      entry = { watcher, refs: 0, recursive: options.recursive };
      this.watchers.set(key, entry);
    }
    entry.refs++;
    const e = entry;
    let disposed = false;
    return {
      ready: e.watcher.ready,
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (--e.refs === 0) {
          e.watcher.dispose();
          if (this.watchers.get(key) === e) this.watchers.delete(key);
        }
      },
    };
  }

  private remoteChanges(changes: PathChange[]): void {
    const now = Date.now();
    const out: PathChange[] = [];
    const later: PathChange[] = [];
    for (const c of changes) {
      if (isTempName(posix.basename(c.path))) continue;
      if (c.type === 'deleted') this.cache.invalidateTree(c.path);
      else this.cache.invalidate(c.path);
      this.generation++;
      // The echo of our own write (already announced) is not news.
      const own = this.recentOwn.get(c.path);
      if (own !== undefined && now - own.at < (this.options.ownEchoMs ?? OWN_ECHO_MS)) continue;
      if (own !== undefined && now - own.at < OWN_ECHO_CHECK_MS) {
        // Our change is still going on: judge the event once it is done (or at the latest after the window).
        if (own.type === undefined) this.hold(c);
        else later.push(c);
        continue;
      }
      out.push(c);
    }
    if (out.length) this.coalescer.push(out);
    if (later.length) void this.unlessEchoes(later);
  }

  /** Changes that may be a late echo of our own: news only if we did not delete it ourselves, or
   *  the pod's file is no longer what we wrote (another mtime or size), or it cannot be checked. */
  private async unlessEchoes(changes: PathChange[]): Promise<void> {
    const news: PathChange[] = [];
    for (const c of changes) {
      if (c.type === 'deleted') {
        if (this.recentOwn.get(c.path)?.type !== 'deleted') news.push(c);
        continue;
      }
      const mine = this.reported.get(c.path);
      const now =
        mine && !this.disposed
          ? await this.connection()
              .then(({ rfs }) => rfs.tryStat(c.path))
              .catch(() => undefined)
          : undefined;
      if (!(mine && now && now.mtimeMs === mine.remoteMs && now.size === mine.size)) news.push(c);
    }
    if (news.length && !this.disposed) this.coalescer.push(news);
  }

  /** An event for a path we are changing right now: kept until our change is done (own()). */
  private hold(c: PathChange): void {
    this.held.set(c.path, c);
    this.heldTimer ??= setTimeout(() => {
      this.heldTimer = undefined;
      const all = [...this.held.values()];
      this.held.clear();
      void this.unlessEchoes(all);
    }, OWN_ECHO_CHECK_MS);
    this.heldTimer.unref?.();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.heldTimer);
    this.held.clear();
    for (const w of this.watchers.values()) w.watcher.dispose();
    this.watchers.clear();
    this.coalescer.dispose();
    this.pathsSubscription?.dispose();
    this.dropConnection();
    this.changes.dispose();
    this.ended.dispose();
  }
}

/** A save that failed for want of the pod: say what the file in the pod holds now. Before the
 *  rename was sent it is untouched; after, the connection may have dropped before or after the
 *  pod did the rename, so it is the old or the new content — whole either way — and nobody here
 *  can tell which. */
function notSaved(e: WorkspaceFsError, renameSent: boolean): WorkspaceFsError {
  const what = renameSent
    ? 'The save may or may not have landed: the connection dropped just as the pod was replacing the file, so it now holds either the old or the new content, whole (never a partial file).'
    : 'Not saved: the file in the pod is unchanged.';
  const detail = e.cause instanceof Error ? ` ${e.cause.message}` : '';
  return fsError('Unavailable', e.podId, e.path, `${what} Save again once the pod is reachable.${detail}`, e.cause ?? e);
}

function mb(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

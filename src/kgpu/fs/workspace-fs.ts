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
 * The parts live beside it: workspace-reads.ts (stat, listings, contents: cached or asked),
 * workspace-save.ts (atomic saves), workspace-connection.ts (the SFTP and who we are), workspace-stat.ts
 * (stat answers, monotonic mtimes), file-contents.ts (size limits, bounded reads, save failures),
 * pod-copy.ts, pod-remove.ts, pod-runner.ts (running an operation, failures classified), watch-registry.ts (shared pod watches), own-echo.ts (our own changes' echoes),
 * workspace-names.ts (probes, temp names), workspace-fs-cache.ts, fs-preconditions.ts (what must (not) exist before a change).
 */
import path from 'node:path';
import type { PodConnector } from '../ssh/ssh-connection';
import type { RemoteFs, RemoteStat } from './remote-fs';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { WorkspaceFsCache } from './workspace-fs-cache';
import { ChangeCoalescer, type PathChange } from '../util/change-coalescer';
import { fsError } from './workspace-fs-error';
import { assertNameLength, norm } from './pod-paths';
import { lexists, retryIfLost } from './lost-session';
import { checkDeletable, checkMoveTarget, checkNewDirectory } from './fs-preconditions';
import { PodRunner } from './pod-runner';
import type { WatchHandle, WorkspaceFsOptions } from './workspace-fs-options';
import { isTempName } from './workspace-names';
import { ReportedMtimes, canWrite, fileKind, type WorkspaceStat } from './workspace-stat';
import { WorkspaceConnection } from './workspace-connection';
import { DEFAULT_MAX_FILE_BYTES, tooLargeToSave } from './file-contents';
import { copyInPod } from './pod-copy';
import { removeInPod } from './pod-remove';
import { WatchRegistry } from './watch-registry';
import { OwnEchoFilter } from './own-echo';
import { WorkspaceReads } from './workspace-reads';
import { saveFile, type WorkspaceSaveOptions } from './workspace-save';

export type { PathChange, ChangeType } from '../util/change-coalescer';
export { WorkspaceFsError, type WorkspaceFsErrorKind } from './workspace-fs-error';
export type { WatchHandle, WorkspaceFsOptions } from './workspace-fs-options';
export { isTempName } from './workspace-names';
export { FileKind, type WorkspaceStat } from './workspace-stat';

const posix = path.posix;

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
  private readonly link: WorkspaceConnection;
  private readonly pathsSubscription: Disposable | undefined;
  /** What we last reported per path: mtime kept monotonic across writes within one second. */
  private readonly reported = new ReportedMtimes();
  private readonly echoes: OwnEchoFilter;
  private readonly watches: WatchRegistry;
  private readonly runner: PodRunner;
  private readonly reads: WorkspaceReads;
  private readonly save: WorkspaceSaveOptions;
  private disposed = false;

  constructor(private readonly options: WorkspaceFsOptions) {
    this.podId = options.podId;
    this.cache = new WorkspaceFsCache({ ttlMs: options.cacheTtlMs ?? 2000 });
    this.coalescer = new ChangeCoalescer(options.debounceMs ?? 75, (c) => this.changes.fire(c));
    this.link = new WorkspaceConnection(options);
    this.runner = new PodRunner({
      podId: options.podId,
      connection: () => this.connection(),
      endReason: () => this.endReason,
      isDisposed: () => this.disposed,
      checkEnded: options.checkEnded,
      markEnded: (reason) => this.markEnded(reason),
    });
    this.reads = new WorkspaceReads({
      podId: options.podId,
      cache: this.cache,
      runner: this.runner,
      link: this.link,
      endReason: () => this.endReason,
    });
    this.save = {
      podId: options.podId,
      cache: this.cache,
      runner: this.runner,
      reported: this.reported,
      expectOwn: (paths) => this.expectOwn(paths),
    };
    this.echoes = new OwnEchoFilter({
      ownEchoMs: options.ownEchoMs,
      stillOurs: (p) => this.stillWhatWeWrote(p),
      deliver: (c) => this.coalescer.push(c),
    });
    this.watches = new WatchRegistry({
      connector: options.connector,
      mode: options.watchMode,
      pollIntervalMs: options.pollIntervalMs,
      excludeNames: options.watchExcludeNames ?? ['.git', 'node_modules', '__pycache__', '.kgpu'],
      reconnect: options.watchReconnect,
      onChanges: (c) => this.remoteChanges(c),
      shouldStop: () => this.endReason !== undefined || this.disposed,
    });
    this.pathsSubscription = options.onDidChangePaths?.((changes) => {
      if (!this.disposed) this.noteChanged(changes);
    });
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
    this.watches.stopAll();
    this.link.drop();
    this.ended.fire(reason);
  }

  // ---- plumbing --------------------------------------------------------------------------------

  /** The pod's RemoteFs and connector (for uploads/downloads beside the editor). */
  async connection(): Promise<{ connector: PodConnector; rfs: RemoteFs }> {
    if (this.disposed) throw new Error('The pod file system was disposed.');
    return this.link.get();
  }

  private toStat(p: string, st: RemoteStat): WorkspaceStat {
    const mtime = this.reported.mtimeFor(p, st);
    return {
      type: fileKind(st),
      ctime: mtime,
      mtime,
      size: st.size,
      readonly: this.endReason !== undefined || !canWrite(st, this.link.knownIdentity),
    };
  }

  /** We are about to change these paths: the watch's echo of it is not news (from now until
   *  OWN_ECHO_MS after we announce it ourselves). */
  private expectOwn(paths: string[]): void {
    this.reads.changed();
    this.echoes.expect(paths);
  }

  private own(changes: PathChange[]): void {
    this.reads.changed();
    this.echoes.announced(changes);
    this.changes.fire(changes);
  }

  /** Is the pod's file at `p` still what we last wrote there (same mtime and size)? */
  private async stillWhatWeWrote(p: string): Promise<boolean> {
    const mine = this.reported.get(p);
    const now =
      mine && !this.disposed
        ? await this.connection()
            .then(({ rfs }) => rfs.tryStat(p))
            .catch(() => undefined)
        : undefined;
    return !!(mine && now && now.mtimeMs === mine.remoteMs && now.size === mine.size);
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
    return this.toStat(p, await this.reads.stat(p));
  }

  /** Names and FileKind bits of a folder's entries (one READDIR round trip; symlink targets stat'ed in parallel). */
  async readDirectory(uriPath: string): Promise<[string, number][]> {
    const p = norm(uriPath);
    const map = await this.reads.listing(p);
    return [...map].map(([name, st]) => [name, this.toStat(posix.join(p, name), st).type]);
  }

  // ---- contents --------------------------------------------------------------------------------

  async readFile(uriPath: string): Promise<Uint8Array> {
    return this.reads.readFile(norm(uriPath), this.options.maxFileBytes?.() ?? DEFAULT_MAX_FILE_BYTES);
  }

  /** Write a file atomically with `vscode.FileSystemProvider.writeFile`'s create/overwrite rules (workspace-save.ts). */
  async writeFile(uriPath: string, content: Uint8Array, flags: { create: boolean; overwrite: boolean }): Promise<void> {
    const p = norm(uriPath);
    assertNameLength(this.podId, p);
    if (this.endReason !== undefined) throw this.runner.endedError(p);
    const max = this.options.maxFileBytes?.() ?? DEFAULT_MAX_FILE_BYTES;
    // Refused before anything is sent: the pod's copy stays as it was, the editor keeps the text.
    if (content.byteLength > max) throw tooLargeToSave(this.podId, p, content.byteLength, max);
    const data = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    const existed = await saveFile(this.save, p, data, flags);
    this.own([{ type: existed === true ? 'changed' : 'created', path: p }]);
  }

  // ---- structure -------------------------------------------------------------------------------

  async createDirectory(uriPath: string): Promise<void> {
    const p = norm(uriPath);
    assertNameLength(this.podId, p);
    await this.runner.run(p, async (rfs) => {
      await checkNewDirectory(rfs, this.podId, p);
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
    checkDeletable(this.podId, p);
    await this.runner.run(p, async (rfs, connector) => {
      const st = await rfs.lstat(p);
      this.expectOwn([p]);
      await removeInPod(rfs, connector, this.podId, p, st, options.recursive);
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
    await this.runner.run(from, async (rfs) => {
      const dst = await checkMoveTarget(rfs, this.podId, from, to, { overwrite: options.overwrite, source: 'link' });
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
    await this.runner.run(from, async (rfs, connector) => {
      const dst = await checkMoveTarget(rfs, this.podId, from, to, { overwrite: options.overwrite, source: 'target' });
      replaced = dst !== undefined;
      this.expectOwn([to]);
      await copyInPod(connector, this.podId, from, to);
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
    if (this.endReason !== undefined || this.disposed) return { ready: new Promise(() => undefined), dispose: () => undefined };
    return this.watches.watch(p, options.recursive);
  }

  private remoteChanges(changes: PathChange[]): void {
    const news: PathChange[] = [];
    for (const c of changes) {
      if (isTempName(posix.basename(c.path))) continue;
      if (c.type === 'deleted') this.cache.invalidateTree(c.path);
      else this.cache.invalidate(c.path);
      this.reads.changed();
      news.push(c);
    }
    this.echoes.remote(news);
  }

  dispose(): void {
    this.disposed = true;
    this.echoes.dispose();
    this.watches.stopAll();
    this.coalescer.dispose();
    this.pathsSubscription?.dispose();
    this.link.drop();
    this.changes.dispose();
    this.ended.dispose();
  }
}

/**
 * The read side of WorkspaceFs: stat answers, folder listings and file contents, each served from
 * the cache when fresh and otherwise asked of the pod (identical requests in flight shared). VS
 * Code's probes (`.vscode`, `.git`, `pyproject.toml`, …) are answered from the parent's listing.
 * A generation counter, bumped on every change (ours or the pod's), keeps an answer asked before a
 * change from being cached after it.
 */
import path from 'node:path';
import type { RemoteStat } from './remote-fs';
import { MAX_NAME_BYTES } from '../util/temp-name';
import type { WorkspaceFsCache } from './workspace-fs-cache';
import { classify, fsError } from './workspace-fs-error';
import { longestNameBytes } from './pod-paths';
import type { PodRunner } from './pod-runner';
import { PROBES, isTempName } from './workspace-names';
import type { WorkspaceConnection } from './workspace-connection';
import { readBounded, tooLargeToRead } from './file-contents';

const posix = path.posix;

export interface WorkspaceReadsOptions {
  podId: string;
  cache: WorkspaceFsCache;
  runner: PodRunner;
  link: WorkspaceConnection;
  /** The end reason when the pod has ended. */
  endReason: () => string | undefined;
}

export class WorkspaceReads {
  private readonly podId: string;
  private readonly cache: WorkspaceFsCache;
  private readonly runner: PodRunner;
  private readonly link: WorkspaceConnection;
  private generation = 0;

  constructor(private readonly options: WorkspaceReadsOptions) {
    this.podId = options.podId;
    this.cache = options.cache;
    this.runner = options.runner;
    this.link = options.link;
  }

  private get endReason(): string | undefined {
    return this.options.endReason();
  }

  /** Something changed (ours or the pod's): answers asked before now are not cached. */
  changed(): void {
    this.generation++;
  }

  /** The pod's stat of `p` (cached or asked); NotFound when it is not there. */
  async stat(p: string): Promise<RemoteStat> {
    if (longestNameBytes(p) > MAX_NAME_BYTES) throw fsError('NotFound', this.podId, p, ''); // cannot exist
    const cached = this.cache.stat(p);
    if (cached === null) throw fsError('NotFound', this.podId, p, '');
    if (cached) return cached;
    if (this.endReason !== undefined) throw this.runner.endedError(p);
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
        if (again) return again;
      }
    }
    const gen = this.generation;
    const st = await this.runner.shared(`stat:${p}`, () =>
      this.runner.run(
        p,
        async (rfs) => {
          const s = await rfs.tryStat(p);
          await this.link.identity;
          return s;
        },
        { idempotent: true },
      ),
    );
    if (gen === this.generation) this.cache.putStat(p, st ?? null);
    if (!st) throw fsError('NotFound', this.podId, p, '');
    return st;
  }

  async listing(dir: string): Promise<Map<string, RemoteStat>> {
    const cached = this.cache.listing(dir);
    if (cached) return cached;
    if (this.endReason !== undefined) throw this.runner.endedError(dir);
    const gen = this.generation;
    const entries = await this.runner.shared(`ls:${dir}`, () =>
      this.runner.run(
        dir,
        async (rfs) => {
          try {
            const list = await rfs.readdir(dir);
            await this.link.identity;
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

  /** A file's contents (at most `max` bytes), from the cache when it is still that file. */
  async readFile(p: string, max: number): Promise<Uint8Array> {
    if (this.endReason !== undefined) {
      const c = this.cache.content(p);
      if (c) return c;
      throw this.runner.endedError(p);
    }
    return this.runner.run(
      p,
      async (rfs) => {
        const st = this.cache.stat(p) ?? (await rfs.stat(p));
        if (st.type === 'directory') throw fsError('IsADirectory', this.podId, p, '');
        if (st.size > max) throw tooLargeToRead(this.podId, p, st.size, max);
        const hit = this.cache.content(p, st);
        if (hit) return hit;
        const data = await readBounded(rfs, this.podId, p, st.size, max);
        this.cache.putContent(p, data, { ...st, size: data.length });
        return data;
      },
      { idempotent: true },
    );
  }
}

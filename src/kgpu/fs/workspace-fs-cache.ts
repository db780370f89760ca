/**
 * The pod file system's short-lived metadata cache: stat results (and "not there" answers) and
 * directory listings, each fresh for `ttlMs`. Our own writes update or drop entries at once, watch
 * events drop them; after the pod has ended every entry is kept (stale reads are all there is).
 * Small file contents are kept too (LRU, bounded) so open files stay readable after the pod ends.
 */
import path from 'node:path';
import type { RemoteStat } from './remote-fs';

const posix = path.posix;

interface Timed<T> {
  value: T;
  at: number;
}

export interface CacheOptions {
  ttlMs: number;
  /** Most listings kept (oldest dropped first). */
  maxListings?: number;
  /** Most stat entries kept. */
  maxStats?: number;
  /** Bytes of file contents kept, and the largest file kept. */
  maxContentBytes?: number;
  maxContentFileBytes?: number;
  now?: () => number;
}

export class WorkspaceFsCache {
  private readonly stats = new Map<string, Timed<RemoteStat | null>>();
  private readonly listings = new Map<string, Timed<Map<string, RemoteStat>>>();
  private readonly contents = new Map<string, { data: Uint8Array; mtimeMs: number; size: number }>();
  private contentBytes = 0;
  /** When set, entries never expire (the pod is gone; the cache is all there is). */
  frozen = false;
  private readonly now: () => number;

  constructor(private readonly options: CacheOptions) {
    this.now = options.now ?? Date.now;
  }

  private fresh(t: Timed<unknown> | undefined): boolean {
    return t !== undefined && (this.frozen || this.now() - t.at < this.options.ttlMs);
  }

  /** A cached stat: the stat, `null` for "nothing there", or undefined when unknown/expired.
   *  Falls back to the parent's listing (one listing answers every child's stat). */
  stat(p: string): RemoteStat | null | undefined {
    const s = this.stats.get(p);
    if (this.fresh(s)) return s!.value;
    return this.fromAncestors(p);
  }

  /** Answer from a fresh listing of the parent — or "not there" when a fresh listing of any
   *  ancestor lacks the next path component (or has a file there). */
  private fromAncestors(p: string): RemoteStat | null | undefined {
    let child = p;
    for (let dir = posix.dirname(p); ; dir = posix.dirname(dir)) {
      const l = this.listings.get(dir);
      if (this.fresh(l)) {
        const entry = l!.value.get(posix.basename(child));
        if (child === p) return entry ?? null;
        if (!entry) return null;
        if (entry.type !== 'directory') return null; // a file where a folder would have to be
        return undefined; // the ancestor exists and is a folder: we know nothing closer
      }
      if (dir === '/' || dir === '.') return undefined;
      child = dir;
    }
  }

  putStat(p: string, st: RemoteStat | null): void {
    this.stats.delete(p);
    this.stats.set(p, { value: st, at: this.now() });
    if (this.stats.size > (this.options.maxStats ?? 20_000)) this.stats.delete(this.stats.keys().next().value as string);
    // Keep a fresh parent listing consistent with what we now know.
    const l = this.listings.get(posix.dirname(p));
    if (l && p !== '/') {
      if (st) l.value.set(posix.basename(p), st);
      else l.value.delete(posix.basename(p));
    }
  }

  listing(dir: string): Map<string, RemoteStat> | undefined {
    const l = this.listings.get(dir);
    return this.fresh(l) ? l!.value : undefined;
  }

  putListing(dir: string, entries: Iterable<[string, RemoteStat]>): void {
    const at = this.now();
    const map = new Map(entries);
    this.listings.delete(dir);
    this.listings.set(dir, { value: map, at });
    if (this.listings.size > (this.options.maxListings ?? 2_000)) this.listings.delete(this.listings.keys().next().value as string);
    for (const [name, st] of map) {
      const p = posix.join(dir, name);
      this.stats.delete(p);
      this.stats.set(p, { value: st, at });
    }
  }

  /** Something at `p` changed (or may have): forget its stat, its listing, its content, and the
   *  parent's listing (a new or removed name). */
  invalidate(p: string): void {
    this.stats.delete(p);
    this.listings.delete(p);
    this.listings.delete(posix.dirname(p));
    this.dropContent(p);
  }

  /** `p` and everything under it changed (rename/delete of a folder, a lost watch). */
  invalidateTree(p: string): void {
    const prefix = p.endsWith('/') ? p : `${p}/`;
    for (const m of [this.stats, this.listings] as Map<string, unknown>[]) {
      for (const k of [...m.keys()]) if (k === p || k.startsWith(prefix)) m.delete(k);
    }
    for (const k of [...this.contents.keys()]) if (k === p || k.startsWith(prefix)) this.dropContent(k);
    this.listings.delete(posix.dirname(p));
  }

  clear(): void {
    this.stats.clear();
    this.listings.clear();
    this.contents.clear();
    this.contentBytes = 0;
  }

  // ---- contents (for reads after the pod ended) ---------------------------------------------

  putContent(p: string, data: Uint8Array, st: RemoteStat): void {
    this.dropContent(p);
    const max = this.options.maxContentFileBytes ?? 1024 * 1024;
    if (data.byteLength > max) return;
    this.contents.set(p, { data, mtimeMs: st.mtimeMs, size: st.size });
    this.contentBytes += data.byteLength;
    const budget = this.options.maxContentBytes ?? 32 * 1024 * 1024;
    while (this.contentBytes > budget) this.dropContent(this.contents.keys().next().value as string);
  }

  /** Cached content if it still matches `st` (or any cached content when `st` is undefined). */
  content(p: string, st?: RemoteStat): Uint8Array | undefined {
    const c = this.contents.get(p);
    if (!c) return undefined;
    if (st && (st.mtimeMs !== c.mtimeMs || st.size !== c.size)) return undefined;
    return c.data;
  }

  private dropContent(p: string): void {
    const c = this.contents.get(p);
    if (!c) return;
    this.contents.delete(p);
    this.contentBytes -= c.data.byteLength;
  }
}

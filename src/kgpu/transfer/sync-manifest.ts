/**
 * The two records sync keeps.
 *
 * In the pod, `<remoteDir>/.kgpu/manifest.jsonl`: what we uploaded — one JSON line per change
 * `{"p":path,"s":size,"m":mtimeSeconds,"h":sha256}` or a tombstone `{"p":path,"d":1}`; the last
 * line for a path wins. Appending only the changed entries keeps an incremental sync's bytes
 * proportional to what changed; it is rewritten whole when mostly stale. A line cut short by a
 * dropped connection is ignored (that file is then simply uploaded again).
 *
 * Locally, a hash cache per local folder (path → size, mtime, sha256) so an unchanged tree is not
 * re-read: a JSON file in a state directory the caller gives (the editor's global storage),
 * never inside the user's folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface RemoteEntry {
  size: number;
  /** mtime in whole seconds, as set by tar in the pod. */
  mtime: number;
  sha256: string;
}

export type RemoteManifest = Map<string, RemoteEntry>;

export interface ParsedRemoteManifest {
  entries: RemoteManifest;
  /** Lines in the file (to decide when to rewrite it whole). */
  lines: number;
}

export function parseRemoteManifest(text: string): ParsedRemoteManifest {
  const entries: RemoteManifest = new Map();
  let lines = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    lines++;
    let rec: { p?: unknown; s?: unknown; m?: unknown; h?: unknown; d?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (typeof rec.p !== 'string') continue;
    if (rec.d) entries.delete(rec.p);
    else if (typeof rec.s === 'number' && typeof rec.m === 'number' && typeof rec.h === 'string')
      entries.set(rec.p, { size: rec.s, mtime: rec.m, sha256: rec.h });
  }
  return { entries, lines };
}

export function manifestLine(p: string, e: RemoteEntry | null): string {
  return (e ? JSON.stringify({ p, s: e.size, m: e.mtime, h: e.sha256 }) : JSON.stringify({ p, d: 1 })) + '\n';
}

export function serializeRemoteManifest(m: RemoteManifest): string {
  let s = '';
  for (const [p, e] of m) s += manifestLine(p, e);
  return s;
}

interface CachedHash {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** The local path → sha256 cache for one folder, and per sync target (pod + folder) a copy of
 *  the manifest we last left there (so an edit can be sent in one round trip). */
export class LocalHashCache {
  private entries = new Map<string, CachedHash>();
  private targets = new Map<string, RemoteManifest>();
  private dirty = false;

  private constructor(private readonly file: string | undefined) {}

  /** `stateDir` undefined: an in-memory cache (every sync re-hashes). */
  static async load(stateDir: string | undefined, localDir: string): Promise<LocalHashCache> {
    if (!stateDir) return new LocalHashCache(undefined);
    const key = createHash('sha256').update(path.resolve(localDir)).digest('hex').slice(0, 24);
    const c = new LocalHashCache(path.join(stateDir, `sync-hashes-${key}.json`));
    try {
      const raw = JSON.parse(await fsp.readFile(c.file as string, 'utf8')) as {
        v?: number;
        files?: Record<string, [number, number, string]>;
        targets?: Record<string, Record<string, [number, number, string]>>;
      };
      if (raw.v === 1 && raw.files)
        for (const [p, [size, mtimeMs, sha256]] of Object.entries(raw.files)) c.entries.set(p, { size, mtimeMs, sha256 });
      if (raw.v === 1 && raw.targets) {
        for (const [t, m] of Object.entries(raw.targets)) {
          c.targets.set(t, new Map(Object.entries(m).map(([p, [size, mtime, sha256]]) => [p, { size, mtime, sha256 }])));
        }
      }
    } catch {
      /* no cache yet, or unreadable: start empty */
    }
    return c;
  }

  get(rel: string, size: number, mtimeMs: number): string | undefined {
    const e = this.entries.get(rel);
    return e && e.size === size && e.mtimeMs === mtimeMs ? e.sha256 : undefined;
  }

  set(rel: string, size: number, mtimeMs: number, sha256: string): void {
    this.entries.set(rel, { size, mtimeMs, sha256 });
    this.dirty = true;
  }

  /** What we last left in this target's manifest, if we have synced to it from here. */
  snapshot(target: string): RemoteManifest | undefined {
    return this.targets.get(target);
  }

  setSnapshot(target: string, m: RemoteManifest | undefined): void {
    if (m) this.targets.set(target, new Map(m));
    else this.targets.delete(target);
    this.dirty = true;
  }

  /** Forget files no longer present. */
  retain(present: ReadonlySet<string>): void {
    for (const k of this.entries.keys()) {
      if (!present.has(k)) {
        this.entries.delete(k);
        this.dirty = true;
      }
    }
  }

  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    const files: Record<string, [number, number, string]> = {};
    for (const [p, e] of this.entries) files[p] = [e.size, e.mtimeMs, e.sha256];
    const targets: Record<string, Record<string, [number, number, string]>> = {};
    for (const [t, m] of this.targets) {
      const o: Record<string, [number, number, string]> = {};
      for (const [p, e] of m) o[p] = [e.size, e.mtime, e.sha256];
      targets[t] = o;
    }
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify({ v: 1, files, targets }));
    await fsp.rename(tmp, this.file);
    this.dirty = false;
  }
}

/**
 * Paths in DAP messages, both ways, between the editor's machine and the pod:
 *  - a local file under the synced folder ↔ the same relative path under `/workspace/<folder>`;
 *  - a `kgpu://<pod>/abs/path` source (a file opened from the pod) → that pod path;
 *  - a pod file with no local copy (outside the synced folder: the standard library, site-packages;
 *    or inside it but not on this machine) → `kgpu://<pod>/abs/path`, which VS Code opens through
 *    kgpu's file system (a DAP `source.path` that looks like a URI is taken as one).
 * Every `source` object (and `sources` list) in a message's arguments/body is rewritten, so
 * setBreakpoints, breakpointLocations, stackTrace, loadedSource, breakpoint and output events all
 * map without knowing each command.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface PodPathMapOptions {
  podId: string;
  /** The local folder that is synced (absolute, this machine's separators); undefined: none. */
  localRoot?: string;
  /** Where it is in the pod, e.g. /workspace/proj. */
  remoteRoot?: string;
  /** Whether a local file exists (default: fs.existsSync). */
  localExists?: (file: string) => boolean;
  /** The local path module (tests of Windows paths pass path.win32). */
  pathModule?: path.PlatformPath;
}

export const KGPU_URI_PREFIX = 'kgpu://';

export class PodPathMap {
  private readonly p: path.PlatformPath;
  private readonly remoteRoot: string | undefined;

  constructor(private readonly options: PodPathMapOptions) {
    this.p = options.pathModule ?? path;
    this.remoteRoot = options.remoteRoot ? path.posix.normalize(options.remoteRoot).replace(/\/+$/, '') || '/' : undefined;
  }

  /** A pod URI for an absolute pod path. */
  podUri(remotePath: string): string {
    return `${KGPU_URI_PREFIX}${this.options.podId}${encodeURI(remotePath).replace(/[?#]/g, encodeURIComponent)}`;
  }

  /** A path the editor gave (local path or kgpu:// URI) as the pod sees it; unchanged when it maps to nothing. */
  toRemote(p: string): string {
    if (p.startsWith(KGPU_URI_PREFIX)) {
      const rest = p.slice(KGPU_URI_PREFIX.length);
      const slash = rest.indexOf('/');
      if (slash > 0 && rest.slice(0, slash) === this.options.podId) return safeDecode(rest.slice(slash));
      return p;
    }
    const { localRoot } = this.options;
    if (!localRoot || !this.remoteRoot || !this.p.isAbsolute(p)) return p;
    const rel = this.p.relative(localRoot, p);
    if (rel === '') return this.remoteRoot;
    if (rel.startsWith('..') || this.p.isAbsolute(rel)) return p;
    return path.posix.join(this.remoteRoot, ...rel.split(this.p.sep));
  }

  /** A path debugpy gave (absolute in the pod) as the editor should open it. */
  toLocal(p: string): string {
    if (!p.startsWith('/')) return p; // "<string>", a module name: leave it
    const remote = path.posix.normalize(p);
    const { localRoot } = this.options;
    if (localRoot && this.remoteRoot) {
      const rel = path.posix.relative(this.remoteRoot, remote);
      if (rel && !rel.startsWith('..') && !path.posix.isAbsolute(rel)) {
        const local = this.p.join(localRoot, ...rel.split('/'));
        if ((this.options.localExists ?? defaultExists)(local)) return local;
      }
    }
    return this.podUri(remote);
  }

  /** Rewrite every source path in a message from the editor (in place; returns it). */
  mapToPod<T>(message: T): T {
    walkSources(message, (s) => {
      if (typeof s.path === 'string') s.path = this.toRemote(s.path);
    });
    return message;
  }

  /** Rewrite every source path in a message from debugpy (in place; returns it). */
  mapToEditor<T>(message: T): T {
    walkSources(message, (s) => {
      if (typeof s.path !== 'string') return;
      const mapped = this.toLocal(s.path);
      if (mapped !== s.path && mapped.startsWith(KGPU_URI_PREFIX) && !s.presentationHint && !this.isUnderRoot(s.path))
        s.presentationHint = 'deemphasize';
      s.path = mapped;
    });
    return message;
  }

  private isUnderRoot(remote: string): boolean {
    if (!this.remoteRoot) return false;
    const rel = path.posix.relative(this.remoteRoot, remote);
    return !!rel && !rel.startsWith('..');
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function defaultExists(file: string): boolean {
  return existsSync(file);
}

type SourceLike = { path?: unknown; presentationHint?: unknown };

/** Calls `fn` on every object found under a `source` key or in a `sources` array (bounded depth). */
export function walkSources(value: unknown, fn: (s: SourceLike) => void, depth = 0): void {
  if (depth > 12 || !value || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) walkSources(v, fn, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!v || typeof v !== 'object') continue;
    if (k === 'source' && !Array.isArray(v)) fn(v as SourceLike);
    else if (k === 'sources' && Array.isArray(v)) for (const s of v) if (s && typeof s === 'object') fn(s as SourceLike);
    walkSources(v, fn, depth + 1);
  }
}

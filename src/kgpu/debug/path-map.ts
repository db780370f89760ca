/**
 * Paths in DAP messages, both ways, between the editor's machine and the pod:
 *  - a local file under the synced folder ↔ the same relative path under `/workspace/<folder>`;
 *  - a `kgpu://<pod>/abs/path` source (a file opened from the pod) → that pod path;
 *  - a pod file of the user's with no local copy (under /workspace: in the synced folder but not on
 *    this machine, or another project's) → `kgpu://<pod>/abs/path`, which VS Code opens through
 *    kgpu's file system, writable (a DAP `source.path` that looks like a URI is taken as one);
 *  - a library file (anywhere else in the pod: the standard library; and any site-/dist-packages
 *    folder or /workspace/.kgpu (the projects' venvs), even inside /workspace) →
 *    `kgpu-lib://<pod>/abs/path`: the same file through a read-only view (src/debug/), so stepping
 *    into torch never leaves an editable copy of it open — unless the editor itself named that
 *    file with a kgpu:// URI (a breakpoint set in it on purpose), which then stays as it was named.
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
  /** Where the user's own files live in the pod (default /workspace): pod files elsewhere are library files. */
  userRoot?: string;
}

export const KGPU_URI_PREFIX = 'kgpu://';
/** The read-only view of a pod's library files (registered by src/debug/library-file-system.ts). */
export const KGPU_LIBRARY_SCHEME = 'kgpu-lib';
export const KGPU_LIBRARY_URI_PREFIX = `${KGPU_LIBRARY_SCHEME}://`;

export class PodPathMap {
  private readonly p: path.PlatformPath;
  private readonly remoteRoot: string | undefined;
  private readonly userRoot: string;
  /** Pod paths the editor named with a kgpu:// URI: they keep that form. */
  private readonly named = new Set<string>();

  constructor(private readonly options: PodPathMapOptions) {
    this.p = options.pathModule ?? path;
    this.remoteRoot = options.remoteRoot ? path.posix.normalize(options.remoteRoot).replace(/\/+$/, '') || '/' : undefined;
    this.userRoot = path.posix.normalize(options.userRoot ?? '/workspace').replace(/\/+$/, '') || '/';
  }

  /** A pod URI for an absolute pod path (kgpu://, or kgpu-lib:// for the read-only view). */
  podUri(remotePath: string, prefix: string = KGPU_URI_PREFIX): string {
    return `${prefix}${this.options.podId}${encodeURI(remotePath).replace(/[?#]/g, encodeURIComponent)}`;
  }

  /** Whether a pod path is a library file (outside the user's files and the synced folder). */
  isLibrary(remote: string): boolean {
    // Installed packages are libraries wherever they are (a project's venv lives in /workspace/.kgpu/venvs).
    if (/\/(?:site|dist)-packages\//.test(remote) || within(path.posix.join(this.userRoot, '.kgpu'), remote)) return true;
    return !within(this.userRoot, remote) && !(this.remoteRoot && within(this.remoteRoot, remote));
  }

  /** A path the editor gave (local path or kgpu:// URI) as the pod sees it; unchanged when it maps to nothing. */
  toRemote(p: string): string {
    for (const prefix of [KGPU_URI_PREFIX, KGPU_LIBRARY_URI_PREFIX]) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash <= 0 || rest.slice(0, slash) !== this.options.podId) return p;
      const remote = safeDecode(rest.slice(slash));
      if (prefix === KGPU_URI_PREFIX && this.named.size < 10_000) this.named.add(path.posix.normalize(remote));
      return remote;
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
    return this.podUri(remote, this.isLibrary(remote) && !this.named.has(remote) ? KGPU_LIBRARY_URI_PREFIX : KGPU_URI_PREFIX);
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
      if (
        mapped !== s.path &&
        !s.presentationHint &&
        (mapped.startsWith(KGPU_LIBRARY_URI_PREFIX) || (mapped.startsWith(KGPU_URI_PREFIX) && !this.isUnderRoot(s.path)))
      )
        s.presentationHint = 'deemphasize';
      s.path = mapped;
    });
    return message;
  }

  private isUnderRoot(remote: string): boolean {
    return !!this.remoteRoot && within(this.remoteRoot, remote);
  }
}

/** Whether the pod path `p` is `root` or under it. */
function within(root: string, p: string): boolean {
  const rel = path.posix.relative(root, path.posix.normalize(p));
  return !rel.startsWith('..') && !path.posix.isAbsolute(rel);
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

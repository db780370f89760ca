/**
 * The pod watches one WorkspaceFs runs: one PodWatcher per watched root, shared by reference
 * count, and a watch inside a running recursive one (outside its excluded folders) rides on it.
 */
import type { PodConnector } from '../ssh/ssh-connection';
import type { PathChange } from '../util/change-coalescer';
import type { ReconnectPolicy } from '../ssh/reconnect-policy';
import { PodWatcher, type WatchMode } from './pod-watcher';
import type { WatchHandle } from './workspace-fs-options';

export interface WatchRegistryOptions {
  connector: () => Promise<PodConnector>;
  mode?: WatchMode;
  pollIntervalMs?: number;
  /** Folders whose contents recursive watches skip. */
  excludeNames: readonly string[];
  reconnect?: ReconnectPolicy;
  onChanges: (changes: PathChange[]) => void;
  shouldStop: () => boolean;
}

export class WatchRegistry {
  private readonly watchers = new Map<string, { watcher: PodWatcher; refs: number; recursive: boolean }>();

  constructor(private readonly options: WatchRegistryOptions) {}

  /** Watch `p` (normalised) recursively or not: a running recursive watch that covers it is shared. */
  watch(p: string, recursive: boolean): WatchHandle {
    const excludeNames = this.options.excludeNames;
    let key = `${recursive ? 'r' : 'n'}:${p}`;
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
        recursive,
        mode: this.options.mode,
        pollIntervalMs: this.options.pollIntervalMs,
        excludeNames: recursive ? excludeNames : [],
        onChanges: this.options.onChanges,
        shouldStop: this.options.shouldStop,
        reconnect: this.options.reconnect,
      });
      entry = { watcher, refs: 0, recursive };
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

  /** Stop every watch (the pod ended, or the file system is disposed). */
  stopAll(): void {
    for (const w of this.watchers.values()) w.watcher.dispose();
    this.watchers.clear();
  }
}

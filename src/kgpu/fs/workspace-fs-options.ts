/**
 * What WorkspaceFs is made with (WorkspaceFsOptions) and the watch handle it gives back.
 */
import type { PodConnector } from '../ssh/ssh-connection';
import type { RemoteFs } from './remote-fs';
import type { Disposable, Event } from '../util/emitter';
import type { PathChange } from '../util/change-coalescer';
import type { WatchMode } from './pod-watcher';
import type { ReconnectPolicy } from '../ssh/reconnect-policy';

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

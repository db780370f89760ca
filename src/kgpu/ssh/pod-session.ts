/**
 * PodSession: the one owner of a pod's I/O for the whole window. One per pod (handed out by the
 * editor's PodConnections, which routes a pod id to it): it owns
 *  - the pod's connector (the SSH connections to the bastion, with its spares), built on first use
 *    from the pod's key and thrown away when the key or the connection settings change, so the next
 *    use connects with the new ones (`resetConnections`);
 *  - exec and streamed exec over that connector (`commands`: what jobs, sync, tasks and the
 *    debugger take as their PodCommands), and the pod's SFTP (`sftp`: uploads, downloads and the
 *    `kgpu:` file system; its bulk transfers retry with the session's policy);
 *  - the pod agent (one AgentClient: ports, telemetry, notebook kernels, debug sessions share it);
 *  - the ONE SSH retry policy (`reconnect`) every reconnect loop of the pod uses;
 *  - `onDidChangePaths`: whoever changes files in the pod behind the file system's back (an upload,
 *    a sync) says which paths; the workspace file system listens and tells the editor.
 * Disposing it (the pod ended, the window closes) closes everything it holds.
 */
import { AgentClient } from '../agent/agent-client';
import { RemoteFs } from '../fs/remote-fs';
import type { PathChange } from '../util/change-coalescer';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import type { PodConnector } from './ssh-connection';
import { exec, execStream } from './ssh-exec';
import type { PodCommands } from './pod-commands';
import { backoffReconnectPolicy, type ReconnectPolicy } from './reconnect-policy';

export interface PodSessionOptions {
  podId: string;
  /** Builds the pod's connector (its key, host, port, proxy); called again after `resetConnections`. */
  createConnector: () => Promise<PodConnector>;
  /** The retry policy (default: backoffReconnectPolicy()). */
  reconnect?: ReconnectPolicy;
  /** Path of sftp-server in the pod's image (default: the contract's). */
  sftpServerPath?: string;
}

/** The pod's SFTP (over an exec'd sftp-server) and the connector it runs on. */
export interface PodSftp {
  connector: PodConnector;
  rfs: RemoteFs;
}

export class PodSession implements Disposable {
  readonly podId: string;
  readonly reconnect: ReconnectPolicy;
  /** Exec over this pod's connector (connected on first use). */
  readonly commands: PodCommands;
  private connecting: Promise<PodConnector> | undefined;
  private agentClient: AgentClient | undefined;
  private sftpNow: PodSftp | undefined;
  private readonly pathsEmitter = new Emitter<PathChange[]>();
  /** Files changed in the pod by an upload or sync (not through the file system). */
  readonly onDidChangePaths: Event<PathChange[]> = this.pathsEmitter.event;
  private disposed = false;

  constructor(private readonly options: PodSessionOptions) {
    this.podId = options.podId;
    this.reconnect = options.reconnect ?? backoffReconnectPolicy();
    this.commands = {
      exec: async (command, o) => exec(await this.connector(), command, o),
      execStream: async (command, o) => execStream(await this.connector(), command, o),
    };
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The pod's connector, built on first use; a failed build (no key yet, a cancelled passphrase) is not kept. */
  connector(): Promise<PodConnector> {
    if (this.disposed) return Promise.reject(new Error(`The connection to pod ${this.podId} was closed.`));
    if (!this.connecting) {
      const c = this.options.createConnector();
      this.connecting = c;
      c.then(
        (connector) => {
          // Disposed or reset while it was being built: it belongs to nobody.
          if (this.connecting !== c) connector.dispose();
        },
        () => {
          if (this.connecting === c) this.connecting = undefined;
        },
      );
    }
    return this.connecting;
  }

  /** The pod's agent client (started on the first stream; it closes itself when unused). */
  get agent(): AgentClient {
    if (this.disposed) throw new Error(`The connection to pod ${this.podId} was closed.`);
    if (!this.agentClient || this.agentClient.state === 'disposed') {
      this.agentClient = new AgentClient({
        exec: (command, o) => this.commands.execStream(command, o),
        reconnect: this.reconnect,
      });
    }
    return this.agentClient;
  }

  /** The pod's SFTP, opened on first use over the current connector (a new one after a reset). */
  async sftp(): Promise<PodSftp> {
    const connector = await this.connector();
    if (this.disposed) throw new Error(`The connection to pod ${this.podId} was closed.`);
    if (this.sftpNow?.connector !== connector) {
      this.sftpNow?.rfs.dispose();
      this.sftpNow = {
        connector,
        rfs: new RemoteFs(connector, { sftpServerPath: this.options.sftpServerPath, reconnect: this.reconnect }),
      };
    }
    return this.sftpNow;
  }

  /** Say that paths in the pod changed behind the file system's back (an upload, a sync). */
  notifyPathsChanged(changes: PathChange[]): void {
    if (changes.length && !this.disposed) this.pathsEmitter.fire(changes);
  }

  /**
   * The key or the connection settings changed: close the connections and the agent now; the next
   * use connects again with the new ones (streams in flight fail with a clear error).
   */
  resetConnections(): void {
    const c = this.connecting;
    this.connecting = undefined;
    void c?.then(
      (connector) => connector.dispose(),
      () => undefined,
    );
    this.agentClient?.closeAgent();
    this.sftpNow?.rfs.dispose();
    this.sftpNow = undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.resetConnections();
    this.disposed = true;
    this.agentClient?.dispose();
    this.agentClient = undefined;
    this.pathsEmitter.dispose();
  }
}

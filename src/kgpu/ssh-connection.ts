/**
 * Connections to one pod through the kgpu bastion.
 *
 * The bastion serves exactly ONE channel per SSH connection (a second session channel is refused;
 * the contract warns against ControlMaster for the same reason), so every exec, shell or SFTP
 * session gets a fresh connection from `PodConnector.connect()` and closes it with its channel.
 * Connections are cheap when Nagle is off on the socket (measured: handshake+auth ~95 ms with
 * Nagle, ~8 ms without), keep alive every 15 s, and pin the bastion's host key on first use.
 */
import net from 'node:net';
import { Client, type ConnectConfig } from 'ssh2';
import { sshFingerprint, type HostKeyStore } from './host-keys';
import {
  AuthRejectedError,
  BastionUnreachableError,
  HostKeyChangedError,
  SshAbortedError,
  SshError,
} from './ssh-errors';

export interface PodSshTarget {
  host: string;
  port: number;
  /** Always "kgpu" on the real bastion (the default). */
  user?: string;
  /** OpenSSH or PEM private key pinned to the rental. Never logged. */
  privateKey: string | Buffer;
  passphrase?: string;
}

export interface PodConnectorOptions extends PodSshTarget {
  /** Trust-on-first-use store for the bastion's host key. */
  hostKeys: HostKeyStore;
  /** TCP connect + SSH handshake + auth must finish within this (default 20 000 ms). */
  readyTimeoutMs?: number;
  /** SSH keepalive interval (default 15 000 ms); the connection is dropped after 3 unanswered. */
  keepaliveIntervalMs?: number;
}

/** One live SSH connection, for exactly one channel. */
export interface PodConnection {
  readonly client: Client;
  /** Resolves when the connection has closed (for any reason). */
  readonly closed: Promise<void>;
  /** End the connection (idempotent). */
  close(): void;
}

export class PodConnector {
  readonly hostPort: string;
  private readonly open = new Set<PodConnection>();
  private disposed = false;

  constructor(private readonly options: PodConnectorOptions) {
    this.hostPort = `${options.host}:${options.port}`;
  }

  /** Number of connections currently open (for tests and diagnostics). */
  get openConnections(): number {
    return this.open.size;
  }

  /** Open a fresh, authenticated connection. Use it for ONE channel, then close() it. */
  connect(options: { signal?: AbortSignal } = {}): Promise<PodConnection> {
    const { host, port } = this.options;
    const signal = options.signal;
    if (this.disposed) return Promise.reject(new SshError(`The SSH connector for ${this.hostPort} was disposed.`));
    if (signal?.aborted) return Promise.reject(new SshAbortedError('Connecting to the pod'));

    return new Promise<PodConnection>((resolve, reject) => {
      const client = new Client();
      let settled = false;
      let hostKeyError: HostKeyChangedError | undefined;
      let resolveClosed!: () => void;
      const closed = new Promise<void>((r) => (resolveClosed = r));
      const conn: PodConnection = {
        client,
        closed,
        close: () => {
          this.open.delete(conn);
          client.end();
          // end() is graceful; make sure the socket goes even if the peer stalls.
          setImmediate(() => client.destroy());
        },
      };
      this.open.add(conn);

      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        client.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(new SshAbortedError('Connecting to the pod'));
      signal?.addEventListener('abort', onAbort, { once: true });

      client.on('close', () => {
        this.open.delete(conn);
        resolveClosed();
        fail(new BastionUnreachableError(host, port, 'the connection closed during the SSH handshake'));
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (settled) return; // errors after ready are reported by the channel's user
        if (hostKeyError) return fail(hostKeyError);
        if (err.level === 'client-authentication') return fail(new AuthRejectedError(host, port, { cause: err }));
        if (err.level === 'client-timeout') return fail(new BastionUnreachableError(host, port, 'no SSH handshake within the time limit', { cause: err }));
        const reason = err.code ? `${err.code}` : err.message;
        fail(new BastionUnreachableError(host, port, reason, { cause: err }));
      });
      client.on('ready', () => {
        if (settled) {
          client.destroy();
          return;
        }
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        resolve(conn);
      });

      const sock = net.connect({ host, port, noDelay: true });
      const config: ConnectConfig = {
        sock,
        username: this.options.user ?? 'kgpu',
        privateKey: this.options.privateKey,
        passphrase: this.options.passphrase,
        readyTimeout: this.options.readyTimeoutMs ?? 20_000,
        keepaliveInterval: this.options.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        // Only public-key auth exists on the bastion; no agent, no keyboard-interactive prompts.
        tryKeyboard: false,
        hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
          const actual = sshFingerprint(key);
          void Promise.resolve(this.options.hostKeys.get(this.hostPort))
            .then(async (expected) => {
              if (expected === undefined) {
                await this.options.hostKeys.set(this.hostPort, actual);
                verify(true);
              } else if (expected === actual) {
                verify(true);
              } else {
                hostKeyError = new HostKeyChangedError(this.hostPort, expected, actual);
                verify(false);
              }
            })
            .catch((e: unknown) => {
              hostKeyError = undefined;
              fail(e instanceof Error ? e : new Error(String(e)));
            });
        },
      };
      try {
        client.connect(config);
      } catch (e) {
        // e.g. a malformed private key: ssh2 throws synchronously.
        sock.destroy();
        this.open.delete(conn);
        fail(new SshError(`Cannot use the SSH key for ${this.hostPort}: ${(e as Error).message}`, { cause: e }));
      }
    });
  }

  /** Close every open connection and refuse new ones. */
  dispose(): void {
    this.disposed = true;
    for (const c of [...this.open]) c.client.destroy();
    this.open.clear();
  }
}

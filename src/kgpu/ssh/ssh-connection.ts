/**
 * Connections to one pod through the kgpu bastion.
 *
 * The bastion serves exactly ONE channel per SSH connection (a second session channel is refused;
 * the contract warns against ControlMaster for the same reason), so every exec, shell or SFTP
 * session gets a fresh connection from `PodConnector.connect()` and closes it with its channel.
 * Connections are cheap when Nagle is off on the socket (measured: handshake+auth ~95 ms with
 * Nagle, ~8 ms without), keep alive every 15 s, and pin the bastion's host key on first use.
 *
 * Spare connections (opt-in, `spareConnections`) keep the next `connect()` from paying for a
 * handshake: the pool in spare-pool.ts, one spare in spare-connection.ts.
 */
import net from 'node:net';
import { HttpConnectTunnel } from '../net/http-connect';
import { Client, type ConnectConfig } from 'ssh2';
import { sshFingerprint, type HostKeyStore } from './host-keys';
import { AuthRejectedError, BastionUnreachableError, HostKeyChangedError, SshAbortedError, SshError } from './ssh-errors';
import { SparePool } from './spare-pool';

export interface PodSshTarget {
  host: string;
  port: number;
  /** Always "kgpu" on the real bastion (the default). */
  user?: string;
  /** OpenSSH or PEM private key pinned to the rental. Never logged. */
  privateKey?: string | Buffer;
  /** Ask this SSH agent (socket path, or "pageant") for the key instead (src/kgpu/net/ssh-agent.ts). */
  agent?: string;
  passphrase?: string;
}

export interface PodConnectorOptions extends PodSshTarget {
  /** Trust-on-first-use store for the bastion's host key. */
  hostKeys: HostKeyStore;
  /** TCP connect + SSH handshake + auth must finish within this (default 20 000 ms). */
  readyTimeoutMs?: number;
  /** SSH keepalive interval (default 15 000 ms); the connection is dropped after 3 unanswered. */
  keepaliveIntervalMs?: number;
  /** Keep up to this many authenticated connections ready for the next `connect()` calls
   *  (default 0: off; at most MAX_SPARE_CONNECTIONS). See spare-pool.ts. */
  spareConnections?: number;
  /** Close the spares this long after the last `connect()` (default 45 000 ms). */
  spareIdleMs?: number;
  /** Reach the bastion through this HTTP CONNECT proxy (src/kgpu/net/http-connect.ts). */
  httpProxy?: { url: string; strictSSL?: boolean };
}

/** Upper bound for `spareConnections`. */
export const MAX_SPARE_CONNECTIONS = 4;
const DEFAULT_KEEPALIVE_MS = 15_000;

/** When each connection last received anything from the bastion (keepalive answers included). */
const heardAt = new WeakMap<PodConnection, { at: number }>();

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
  /** Connections handed out (and those connecting for a caller). */
  private readonly open = new Set<PodConnection>();
  private readonly spares: SparePool;
  private disposed = false;
  private readonly counts = { fromSpare: 0, fresh: 0 };
  /** The bastion's public host key (SSH wire format) as last verified against the pin. */
  private verifiedHostKey: Buffer | undefined;

  constructor(private readonly options: PodConnectorOptions) {
    this.hostPort = `${options.host}:${options.port}`;
    const n = Math.floor(options.spareConnections ?? 0);
    this.spares = new SparePool({
      target: Number.isFinite(n) ? Math.max(0, Math.min(MAX_SPARE_CONNECTIONS, n)) : 0,
      idleMs: options.spareIdleMs,
      quietLimitMs: 2 * (options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS),
      heardAt: (conn) => heardAt.get(conn)?.at ?? 0,
      dial: (registry) => this.dial(undefined, registry),
    });
  }

  /** Number of connections currently open for callers, spares not included (for tests and diagnostics). */
  get openConnections(): number {
    return this.open.size;
  }

  /** Spares connected and ready to hand out (for tests and diagnostics). */
  get readySpares(): number {
    return this.spares.ready;
  }

  /** Spares connected or still connecting (for tests and diagnostics). */
  get spareConnections(): number {
    return this.spares.size;
  }

  /**
   * What another SSH client needs to reach the same bastion as this connector (openssh-exec.ts):
   * the target (its key or agent — never logged) and the bastion's public host key as last verified
   * against the pin (undefined until a connection has been made).
   */
  get clientTarget(): { target: PodSshTarget; hostKey: Buffer | undefined; viaHttpProxy: boolean } {
    const { host, port, user, privateKey, agent, passphrase } = this.options;
    return {
      target: { host, port, user, privateKey, agent, passphrase },
      hostKey: this.verifiedHostKey,
      viaHttpProxy: !!this.options.httpProxy,
    };
  }

  /** How many connect() calls were served by a spare and how many opened a fresh connection. */
  get connectStats(): { fromSpare: number; fresh: number } {
    return { ...this.counts };
  }

  /** An authenticated connection for ONE channel (a spare when one is ready); close() it after. */
  async connect(options: { signal?: AbortSignal } = {}): Promise<PodConnection> {
    const signal = options.signal;
    if (this.disposed) throw new SshError(`The SSH connector for ${this.hostPort} was disposed.`);
    if (signal?.aborted) throw new SshAbortedError('Connecting to the pod');
    if (this.spares.target === 0) return this.fresh(signal);
    const spare = this.spares.take(signal);
    if (spare) {
      const conn = await spare;
      if (conn) {
        this.counts.fromSpare++;
        this.open.add(conn);
        // The caller's close() also removes it from `open` (see dial()).
        return conn;
      }
      if (signal?.aborted) throw new SshAbortedError('Connecting to the pod');
    }
    return this.fresh(signal);
  }

  /** Close every open connection and spare, and refuse new ones. */
  dispose(): void {
    this.disposed = true;
    this.spares.dispose();
    for (const c of [...this.open]) c.client.destroy();
    this.open.clear();
  }

  private async fresh(signal: AbortSignal | undefined): Promise<PodConnection> {
    const conn = await this.dial(signal, this.open);
    this.counts.fresh++;
    this.spares.connected();
    return conn;
  }

  /** Open a fresh, authenticated connection, kept in `registry` until it closes. */
  private dial(signal: AbortSignal | undefined, registry: Set<PodConnection>): Promise<PodConnection> {
    const { host, port } = this.options;
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
          registry.delete(conn);
          this.open.delete(conn);
          client.end();
          // end() is graceful; make sure the socket goes even if the peer stalls.
          setImmediate(() => client.destroy());
        },
      };
      registry.add(conn);
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
        registry.delete(conn);
        this.open.delete(conn);
        resolveClosed();
        fail(new BastionUnreachableError(host, port, 'the connection closed during the SSH handshake'));
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (settled) return; // errors after ready are reported by the channel's user
        if (hostKeyError) return fail(hostKeyError);
        if (err.level === 'client-authentication') return fail(new AuthRejectedError(host, port, { cause: err }));
        if (err.level === 'client-timeout')
          return fail(new BastionUnreachableError(host, port, 'no SSH handshake within the time limit', { cause: err }));
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

      let sock: net.Socket | HttpConnectTunnel;
      try {
        const proxy = this.options.httpProxy;
        sock = proxy
          ? new HttpConnectTunnel({ proxy: proxy.url, strictSSL: proxy.strictSSL, host, port })
          : net.connect({ host, port, noDelay: true });
      } catch (e) {
        registry.delete(conn);
        fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      const heard = { at: Date.now() };
      heardAt.set(conn, heard);
      sock.on('data', () => (heard.at = Date.now()));
      const config: ConnectConfig = {
        sock,
        username: this.options.user ?? 'kgpu',
        privateKey: this.options.privateKey,
        agent: this.options.privateKey ? undefined : this.options.agent,
        passphrase: this.options.passphrase,
        readyTimeout: this.options.readyTimeoutMs ?? 20_000,
        keepaliveInterval: this.options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS,
        keepaliveCountMax: 3,
        // Only public-key auth exists on the bastion; no agent, no keyboard-interactive prompts.
        tryKeyboard: false,
        hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
          const actual = sshFingerprint(key);
          void Promise.resolve(this.options.hostKeys.get(this.hostPort))
            .then(async (expected) => {
              if (expected === undefined) {
                await this.options.hostKeys.set(this.hostPort, actual);
                this.verifiedHostKey = Buffer.from(key);
                verify(true);
              } else if (expected === actual) {
                this.verifiedHostKey = Buffer.from(key);
                verify(true);
              } else {
                hostKeyError = new HostKeyChangedError(this.hostPort, expected, actual, this.options.hostKeys.location);
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
        registry.delete(conn);
        fail(new SshError(`Cannot use the SSH key for ${this.hostPort}: ${(e as Error).message}`, { cause: e }));
      }
    });
  }
}

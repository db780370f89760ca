/**
 * The pod agent for one pod, as the rest of the extension sees it: `openStream(target)` gives a
 * Duplex to a pod-local TCP port, Unix socket or process, over ONE exec channel shared by every
 * caller. The agent is started on the first open (placed in the pod first when its file is not
 * there), reused by every later open, and:
 *  - after a drop (SSH connection lost, agent killed, protocol error) the streams in flight fail
 *    with a clear error (ConnectionLostError, AgentProtocolError) and the client stays usable:
 *    the next `openStream` starts the agent again, retrying transient SSH failures through the
 *    ReconnectPolicy;
 *  - once no stream has been open for `idleCloseMs` (default 60 s), the agent is closed, so it
 *    never keeps the pod's idle clock ("12 h without SSH activity") running by itself; keepalive
 *    pings only run while streams are open.
 * The exec function is the only dependency: today `(cmd, o) => execStream(connector, cmd, o)`;
 * the PodSession (issue 18) will own one AgentClient per pod and pass its own exec and policy.
 */
import { isAbortError } from '../api/api-error';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { abortableDelay } from '../api/retry';
import type { ExecStream } from '../ssh/ssh-exec';
import { SshAbortedError, SshError } from '../ssh/ssh-errors';
import { AgentConnection, type AgentHello } from './agent-connection';
import { agentCommand, loadAgentScript, type AgentScript } from './agent-script';
import type { AgentStream, AgentTarget } from './agent-stream';
import { backoffReconnectPolicy, type ReconnectPolicy } from '../ssh/reconnect-policy';

/** Opens ONE exec channel in the pod running `command`, stdin left open for the caller. */
export type AgentExec = (command: string, options: { signal?: AbortSignal }) => Promise<ExecStream>;

export interface AgentClientOptions {
  exec: AgentExec;
  /** Retries of the agent's start after transient SSH failures (default: backoffReconnectPolicy()). */
  reconnect?: ReconnectPolicy;
  /** Close the agent this long after the last stream closed (default 60 000 ms). */
  idleCloseMs?: number;
  /** Initial receive window per stream, bytes (default 256 KiB)… */
  window?: number;
  /** …grown while the stream's reader keeps up, up to this (default 2 MiB). */
  maxWindow?: number;
  /** Keepalive ping interval while streams are open (default 15 000 ms)… */
  keepaliveIntervalMs?: number;
  /** …and the silence after which the agent is given up for lost (default 3 intervals). */
  keepaliveTimeoutMs?: number;
  /** Bound on one start: placement, Python start-up, HELLO (default 30 000 ms). */
  startTimeoutMs?: number;
  /** The agent program (default: the shipped pod/agent.py). */
  script?: () => Promise<AgentScript>;
}

export type AgentState = 'idle' | 'starting' | 'running' | 'disposed';

export interface AgentClientStats {
  /** Agents started (each one exec channel, one SSH connection). */
  starts: number;
  /** Starts that had to send the program (it was not in the pod under its hash). */
  placements: number;
  /** Agents closed after the quiet period. */
  idleCloses: number;
  /** Agents that ended otherwise (drop, killed, protocol error). */
  drops: number;
  /** Streams opened. */
  streams: number;
}

export const DEFAULT_AGENT_WINDOW = 256 * 1024;
export const DEFAULT_AGENT_MAX_WINDOW = 2 * 1024 * 1024;
export const DEFAULT_AGENT_IDLE_CLOSE_MS = 60_000;

export class AgentClient implements Disposable {
  private readonly stateEmitter = new Emitter<AgentState>();
  /** idle → starting → running → idle (after the quiet period or a drop) …; disposed at the end. */
  readonly onDidChangeState: Event<AgentState> = this.stateEmitter.event;
  readonly stats: AgentClientStats = { starts: 0, placements: 0, idleCloses: 0, drops: 0, streams: 0 };

  private current: AgentState = 'idle';
  private conn: AgentConnection | undefined;
  private starting: Promise<AgentConnection> | undefined;
  private readonly lifetime = new AbortController();
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly policy: ReconnectPolicy;
  private readonly idleCloseMs: number;

  constructor(private readonly options: AgentClientOptions) {
    this.policy = options.reconnect ?? backoffReconnectPolicy();
    this.idleCloseMs = Math.max(0, options.idleCloseMs ?? DEFAULT_AGENT_IDLE_CLOSE_MS);
  }

  get state(): AgentState {
    return this.current;
  }

  /** The running agent's HELLO (pid, Python version, hash), if one runs. */
  get hello(): AgentHello | undefined {
    return this.conn && !this.conn.isClosed ? this.conn.hello : undefined;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.conn && !this.conn.isClosed ? this.conn.streamCount : 0;
  }

  /** Keepalive pings sent by the running agent connection (for tests and diagnostics). */
  get pings(): number {
    return this.conn?.pings ?? 0;
  }

  /**
   * A stream to `target` in the pod, once the agent has opened it. Rejects with AgentOpenError
   * when the agent refuses or cannot open it (e.g. a non-loopback address, nothing listening),
   * AgentStartError / an SSH error when the agent cannot be started, SshAbortedError on abort.
   * Listen for the stream's 'error' (a dropped connection fails it).
   */
  async openStream(target: AgentTarget, options: { signal?: AbortSignal } = {}): Promise<AgentStream> {
    const { signal } = options;
    if (this.current === 'disposed') throw new SshError('The kgpu pod agent client was disposed.');
    if (signal?.aborted) throw new SshAbortedError('Opening a stream through the kgpu pod agent');
    const conn = await this.connection(signal);
    const stream = await conn.openStream(target, signal);
    this.stats.streams++;
    return stream;
  }

  /** Start the agent now if it is not running (it closes again after the quiet period). */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.current === 'disposed') throw new SshError('The kgpu pod agent client was disposed.');
    await this.connection(options.signal);
  }

  /** Close the running agent now (open streams fail with ConnectionLostError); the next open starts it again. */
  closeAgent(): void {
    this.conn?.close();
  }

  dispose(): void {
    if (this.current === 'disposed') return;
    this.lifetime.abort();
    this.clearIdle();
    this.conn?.close();
    this.conn = undefined;
    this.setState('disposed');
    this.stateEmitter.dispose();
  }

  private setState(s: AgentState): void {
    if (this.current === s || this.current === 'disposed') return;
    this.current = s;
    this.stateEmitter.fire(s);
  }

  private connection(signal: AbortSignal | undefined): Promise<AgentConnection> {
    if (this.conn && !this.conn.isClosed) return Promise.resolve(this.conn);
    if (!this.starting) {
      this.setState('starting');
      const p = this.startWithRetry();
      this.starting = p;
      p.then(
        () => undefined,
        () => {
          if (!this.conn) this.setState('idle');
        },
      ).finally(() => {
        if (this.starting === p) this.starting = undefined;
      });
    }
    return abortable(this.starting, signal);
  }

  private async startWithRetry(): Promise<AgentConnection> {
    const signal = this.lifetime.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(signal);
      } catch (e) {
        if (signal.aborted) throw new SshAbortedError('Starting the kgpu pod agent');
        const err = e instanceof Error ? e : new Error(String(e));
        const wait = this.policy.retryDelayMs(attempt, err);
        if (wait === undefined) throw err;
        try {
          await abortableDelay(wait, signal);
        } catch (d) {
          throw isAbortError(d) ? new SshAbortedError('Starting the kgpu pod agent') : d;
        }
      }
    }
  }

  private async startOnce(signal: AbortSignal): Promise<AgentConnection> {
    const script = await (this.options.script ?? loadAgentScript)();
    const exec = await this.options.exec(agentCommand(script), { signal });
    let conn: AgentConnection;
    try {
      conn = await AgentConnection.start(
        exec,
        script,
        {
          window: this.options.window ?? DEFAULT_AGENT_WINDOW,
          maxWindow: Math.max(this.options.window ?? DEFAULT_AGENT_WINDOW, this.options.maxWindow ?? DEFAULT_AGENT_MAX_WINDOW),
          keepaliveIntervalMs: this.options.keepaliveIntervalMs ?? 15_000,
          keepaliveTimeoutMs: this.options.keepaliveTimeoutMs ?? 3 * (this.options.keepaliveIntervalMs ?? 15_000),
          startTimeoutMs: this.options.startTimeoutMs ?? 30_000,
          onStreamCount: (n) => this.streamCountChanged(conn, n),
        },
        signal,
      );
    } catch (e) {
      exec.close();
      throw e;
    }
    this.stats.starts++;
    if (conn.placed) this.stats.placements++;
    if (signal.aborted) {
      conn.close();
      throw new SshAbortedError('Starting the kgpu pod agent');
    }
    this.conn = conn;
    this.setState('running');
    void conn.closed.then(() => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      this.clearIdle();
      this.stats.drops++;
      if (!this.starting) this.setState('idle');
    });
    this.armIdle(conn);
    return conn;
  }

  private streamCountChanged(conn: AgentConnection | undefined, n: number): void {
    if (!conn || conn !== this.conn) return;
    if (n > 0) this.clearIdle();
    else this.armIdle(conn);
  }

  private armIdle(conn: AgentConnection): void {
    this.clearIdle();
    if (conn.streamCount > 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.conn !== conn || conn.streamCount > 0) return;
      this.conn = undefined;
      this.stats.idleCloses++;
      conn.close();
      if (!this.starting) this.setState('idle');
    }, this.idleCloseMs);
    this.idleTimer.unref?.();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** `p`, or SshAbortedError as soon as `signal` aborts (the shared start goes on for the others). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new SshAbortedError('Starting the kgpu pod agent'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new SshAbortedError('Starting the kgpu pod agent'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * One running pod agent over one exec channel: the start-up (the text before the frames, read by
 * agent-preamble.ts, then HELLO), the stream table, frame dispatch (a stream's own frames go on
 * through stream-frames.ts), keepalive while streams are open, and the end — whatever ends the
 * channel (the agent exiting or killed, the SSH connection dropping, a protocol error, close())
 * fails every stream still open with a clear error and settles `closed`.
 *
 * The transport is an ExecStream (ssh-exec.ts), or anything with its shape: the fuzz tests drive
 * it from an in-process fake agent.
 */
import type { ExecStream } from '../ssh/ssh-exec';
import { ConnectionLostError, SshAbortedError } from '../ssh/ssh-errors';
import type { AgentScript } from './agent-script';
import { AgentPreamble } from './agent-preamble';
import { AgentStream, type StreamHost } from './agent-stream';
import { targetJson, type AgentTarget } from './agent-target';
import { deliverStreamFrame } from './stream-frames';
import { AgentProtocolError, AgentStartError } from './errors';
import {
  encodeFrame,
  encodeJson,
  FrameDecoder,
  frameName,
  FrameType,
  MAX_PING,
  parseJsonPayload,
  PROTOCOL_VERSION,
  u32,
  type Frame,
} from './protocol';

export interface AgentHello {
  proto: number;
  /** The agent's pid in the pod. */
  pid: number;
  /** The agent's Python version. */
  python: string;
  /** The hash the agent was started under. */
  hash: string;
}

export interface AgentConnectionOptions {
  /** Initial receive window per stream (bytes the agent may send before we hand them on)… */
  window: number;
  /** …grown up to this while the stream's reader keeps up (see AgentStream). */
  maxWindow: number;
  /** Ping the agent this often while streams are open (and nothing arrived since the last tick). */
  keepaliveIntervalMs: number;
  /** Give up on the agent when nothing at all arrived for this long while streams are open. */
  keepaliveTimeoutMs: number;
  /** Bounds the start (placement + Python start-up + HELLO). */
  startTimeoutMs: number;
  /** Called whenever the number of open streams changes. */
  onStreamCount?(count: number): void;
}

const MAX_STDERR = 8 * 1024;

type Phase = 'preamble' | 'hello' | 'running' | 'closed';

export class AgentConnection implements StreamHost {
  /** Settles (never rejects) with the reason once the connection has ended. */
  readonly closed: Promise<Error>;
  hello: AgentHello | undefined;
  /** The start sent the agent's program (it was not yet in the pod). */
  placed = false;
  /** PINGs sent (for tests and diagnostics). */
  pings = 0;

  private phase: Phase = 'preamble';
  private readonly decoder = new FrameDecoder();
  private readonly preamble: AgentPreamble;
  private stderr = '';
  private readonly streams = new Map<number, AgentStream>();
  private nextId = 1;
  private drainWaiters: (() => void)[] = [];
  private congested = false;
  private lastHeard = Date.now();
  private keepalive: ReturnType<typeof setInterval> | undefined;
  private endReason: Error | undefined;
  /** Why the session ended, in words, when we know (for the streams' errors). */
  private why: string | undefined;
  private resolveClosed!: (e: Error) => void;
  private startSettle: { resolve: () => void; reject: (e: Error) => void } | undefined;

  private constructor(
    private readonly exec: ExecStream,
    script: AgentScript,
    private readonly options: AgentConnectionOptions,
  ) {
    this.closed = new Promise<Error>((r) => (this.resolveClosed = r));
    this.preamble = new AgentPreamble(script, () => {
      this.placed = true;
      this.exec.stdin.write(script.source);
    });
  }

  /** Start the agent over `exec` (its command is agentCommand(script)); resolves once it said HELLO. */
  static async start(
    exec: ExecStream,
    script: AgentScript,
    options: AgentConnectionOptions,
    signal?: AbortSignal,
  ): Promise<AgentConnection> {
    const conn = new AgentConnection(exec, script, options);
    await conn.run(signal);
    return conn;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  private run(signal?: AbortSignal): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.startSettle = { resolve, reject }));
    const { exec } = this;
    exec.stdout.on('data', (chunk: Buffer) => this.onChunk(chunk));
    exec.stdout.on('error', () => undefined);
    exec.stderr.on('data', (b: Buffer) => {
      if (this.stderr.length < MAX_STDERR) this.stderr += b.toString('utf8');
    });
    exec.stderr.on('error', () => undefined);
    exec.stdin.on('error', () => undefined);
    exec.done.then(
      (status) => {
        const how = status.signal
          ? `was killed by ${status.signal.startsWith('SIG') ? status.signal : `SIG${status.signal}`}`
          : `exited with code ${status.exitCode}`;
        const why = this.stderrTail();
        if (this.phase === 'running') this.end(this.lost(`the agent ${how}${why ? `: ${why}` : ''}`));
        else this.end(new AgentStartError(`the agent ${how}${why ? `: ${why}` : ''}.`));
      },
      (e: unknown) => this.end(e instanceof Error ? e : new ConnectionLostError("the kgpu pod agent's session", { cause: e })),
    );
    const timer = setTimeout(
      () => this.fail(new AgentStartError(`no answer within ${Math.round(this.options.startTimeoutMs / 1000)} s.`)),
      this.options.startTimeoutMs,
    );
    const onAbort = (): void => this.fail(new SshAbortedError('Starting the kgpu pod agent'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return started.finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  }

  private stderrTail(): string {
    const s = this.stderr.trim();
    return s.length > 400 ? '…' + s.slice(-400) : s;
  }

  // --- input ---

  private onChunk(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.lastHeard = Date.now();
    try {
      if (this.phase === 'preamble') {
        const rest = this.preamble.push(chunk);
        if (rest === undefined) return;
        this.phase = 'hello';
        if (!rest.length) return;
        chunk = rest;
      }
      for (const frame of this.decoder.push(chunk)) {
        this.onFrame(frame);
        if (this.isClosed) return;
      }
    } catch (e) {
      if (e instanceof AgentProtocolError || e instanceof AgentStartError) this.fail(e);
      else throw e;
    }
  }

  private onFrame(f: Frame): void {
    if (this.phase === 'hello') {
      if (f.type !== FrameType.HELLO || f.stream !== 0)
        throw new AgentProtocolError(`the first frame must be HELLO, got ${frameName(f.type)}`);
      const h = parseJsonPayload(f.payload, 'HELLO');
      if (h.proto !== PROTOCOL_VERSION)
        throw new AgentStartError(`the agent in the pod speaks protocol ${String(h.proto)}, this extension ${PROTOCOL_VERSION}.`);
      this.hello = { proto: PROTOCOL_VERSION, pid: Number(h.pid), python: String(h.python ?? ''), hash: String(h.hash ?? '') };
      this.phase = 'running';
      this.send(encodeJson(FrameType.HELLO, 0, { proto: PROTOCOL_VERSION, client: 'kgpu-vscode' }));
      this.startSettle?.resolve();
      this.startSettle = undefined;
      return;
    }
    if (f.stream === 0) {
      switch (f.type) {
        case FrameType.PING:
          if (f.payload.length > MAX_PING) throw new AgentProtocolError(`PING payload of ${f.payload.length} bytes`);
          this.send(encodeFrame(FrameType.PONG, 0, f.payload));
          return;
        case FrameType.PONG:
          return;
        case FrameType.ERROR: {
          const e = parseJsonPayload(f.payload, 'ERROR');
          throw new AgentProtocolError(`the agent reported: ${String(e.message ?? e.code ?? 'an error')}`);
        }
        default:
          throw new AgentProtocolError(`${frameName(f.type)} frame on stream 0`);
      }
    }
    const stream = this.streams.get(f.stream);
    if (!stream) {
      if (f.stream >= this.nextId)
        throw new AgentProtocolError(`${frameName(f.type)} frame for stream ${f.stream}, which was never opened`);
      return; // a stream we reset while the agent's frame was on its way
    }
    deliverStreamFrame(stream, f);
  }

  // --- streams ---

  /** Open a stream; resolves once the agent has opened it (rejects with AgentOpenError if it could not). */
  async openStream(target: AgentTarget, signal?: AbortSignal): Promise<AgentStream> {
    if (this.phase !== 'running') throw this.endReason ?? new ConnectionLostError('opening a stream through the kgpu pod agent');
    if (signal?.aborted) throw new SshAbortedError('Opening a stream through the kgpu pod agent');
    const stream = new AgentStream(this.nextId++, target, this, this.options.window, this.options.maxWindow);
    this.streams.set(stream.id, stream);
    this.countChanged();
    this.send(encodeJson(FrameType.OPEN, stream.id, targetJson(target), u32(this.options.window)));
    const onAbort = (): void => stream.fail(new SshAbortedError(`Opening ${stream.label}`));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await stream.opened;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return stream;
  }

  // StreamHost
  send(frame: Buffer): boolean {
    if (this.phase === 'closed') return false;
    const ok = this.exec.stdin.write(frame);
    if (!ok && !this.congested) {
      this.congested = true;
      this.exec.stdin.once('drain', () => {
        this.congested = false;
        for (const fn of this.drainWaiters.splice(0)) fn();
      });
    }
    return ok;
  }

  onDrain(fn: () => void): void {
    if (!this.congested) queueMicrotask(fn);
    else this.drainWaiters.push(fn);
  }

  forget(stream: AgentStream): void {
    if (this.streams.get(stream.id) === stream) {
      this.streams.delete(stream.id);
      this.countChanged();
    }
  }

  private countChanged(): void {
    if (this.phase === 'closed') return;
    const n = this.streams.size;
    if (n > 0 && !this.keepalive) {
      this.lastHeard = Date.now();
      this.keepalive = setInterval(() => this.tick(), this.options.keepaliveIntervalMs);
      this.keepalive.unref?.();
    } else if (n === 0 && this.keepalive) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
    this.options.onStreamCount?.(n);
  }

  private tick(): void {
    const silent = Date.now() - this.lastHeard;
    if (silent >= this.options.keepaliveTimeoutMs) {
      this.fail(this.lost(`no answer from the agent for ${(silent / 1000).toFixed(1)} s`));
      return;
    }
    if (silent >= this.options.keepaliveIntervalMs * 0.9) {
      this.pings++;
      this.send(encodeFrame(FrameType.PING, 0, u32(this.pings)));
    }
  }

  // --- the end ---

  /** End the connection now: the agent exits (its processes are killed), open streams fail. */
  close(reason?: Error): void {
    this.end(reason ?? this.lost('the agent was closed'));
  }

  /** A ConnectionLostError about the agent's session, remembering why for its streams' errors. */
  private lost(why: string): ConnectionLostError {
    this.why ??= why;
    return new ConnectionLostError(`the kgpu pod agent's session (${why})`);
  }

  /** A protocol error or a failed start: say why to the agent when it still listens, then end. */
  private fail(error: Error): void {
    if (this.phase === 'closed') return;
    if (error instanceof AgentProtocolError && this.phase === 'running') {
      this.send(encodeJson(FrameType.ERROR, 0, { code: 'protocol', message: error.detail }));
    }
    this.end(error);
  }

  private end(error: Error): void {
    if (this.phase === 'closed') return;
    const starting = this.startSettle;
    this.startSettle = undefined;
    this.phase = 'closed';
    this.endReason = error;
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.exec.close();
    for (const fn of this.drainWaiters.splice(0)) fn();
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) {
      s.fail(
        error instanceof ConnectionLostError
          ? new ConnectionLostError(`${s.label} through the kgpu pod agent${this.why ? ` (${this.why})` : ''}`, { cause: error })
          : error,
      );
    }
    if (streams.length) this.options.onStreamCount?.(0);
    starting?.reject(error);
    this.resolveClosed(error);
  }
}

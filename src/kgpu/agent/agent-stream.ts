/**
 * One stream through the pod agent, as a Node Duplex: what the pod side sends is read from it,
 * what is written to it goes to the pod side; `end()` half-closes (EOF), `destroy()` resets.
 *
 * Flow control, both ways, per stream: the agent may send at most `window` bytes we have not yet
 * handed on; credit goes back (WINDOW frames) as the consumer reads — counted in `read()` and
 * after each `push()`, i.e. when bytes leave this stream's buffer, not when they arrive. So a
 * stream nobody reads holds at most `window` bytes here and then stops in the pod, and the other
 * streams on the same channel keep flowing. Writes wait for the agent's credit the same way.
 * The window starts small (256 KiB) and doubles, up to `maxWindow` (2 MiB, the SSH channel's own
 * window), each time the agent said BLOCKED (its credit ran out) and the reader then emptied the
 * buffer: the window, not the reader, limits that stream — over a long round trip 256 KiB would.
 *
 * Errors: a stream that fails (connection lost, reset in the pod) is destroyed with the error
 * when someone listens for 'error' (pipeline, async iteration and `on('error')` all do); with no
 * listener it is destroyed without one — a forgotten listener must not crash the extension
 * host — and the error is kept in `failure`.
 */
import { Duplex, Readable } from 'node:stream';
import type { ExitStatus } from '../ssh/ssh-exec';
import { SshAbortedError } from '../ssh/ssh-errors';
import { AgentProtocolError, AgentStreamResetError } from './errors';
import { encodeFrame, FrameType, MAX_DATA_CHUNK, MAX_WINDOW, u32 } from './protocol';
import { describeTarget, type AgentTarget } from './agent-target';

export { describeTarget, targetJson, type AgentTarget } from './agent-target';

/** What a stream needs from its connection. */
export interface StreamHost {
  /** Queue a frame; false when the channel is congested (wait for onDrain before more data). */
  send(frame: Buffer): boolean;
  /** Call `fn` once the channel takes data again. */
  onDrain(fn: () => void): void;
  /** The stream is finished (closed, reset or destroyed): forget it. */
  forget(stream: AgentStream): void;
}

type State = 'opening' | 'open' | 'closed';

export class AgentStream extends Duplex {
  /** The process's pid in the pod (process streams, once open). */
  pid: number | undefined;
  /** The process's stderr (process streams with stderr 'pipe'). */
  readonly stderr: Readable | undefined;
  /** The process's exit (process streams): resolves when it has exited and its output is
   *  drained; rejects when the stream fails or is destroyed first. */
  readonly exit: Promise<ExitStatus> | undefined;
  /** Why the stream failed, also when nobody listened for 'error'. */
  failure: Error | undefined;
  readonly label: string;

  private state: State = 'opening';
  /** Bytes the agent may send beyond what we have handed on (our receive window; it grows). */
  private window: number;
  private received = 0;
  private granted = 0;
  private pushedOut = 0;
  private pushedErr = 0;
  private remoteEof = false;
  /** The agent said BLOCKED and the window has not grown since. */
  private blocked = false;
  private sendCredit = 0;
  private pending: { chunk: Buffer; off: number; cb: (err?: Error | null) => void } | undefined;
  private waitingDrain = false;
  private resolveExit: ((s: ExitStatus) => void) | undefined;
  private rejectExit: ((e: Error) => void) | undefined;
  private resolveOpen!: () => void;
  private rejectOpen!: (e: Error) => void;
  /** Settles when the agent answers the OPEN. */
  readonly opened: Promise<void>;

  constructor(
    readonly id: number,
    readonly target: AgentTarget,
    private readonly host: StreamHost,
    window: number,
    private readonly maxWindow: number = window,
  ) {
    super({ allowHalfOpen: true });
    this.window = window;
    this.label = describeTarget(target);
    this.opened = new Promise<void>((resolve, reject) => {
      this.resolveOpen = resolve;
      this.rejectOpen = reject;
    });
    this.opened.catch(() => undefined);
    if (target.kind === 'process') {
      this.exit = new Promise<ExitStatus>((resolve, reject) => {
        this.resolveExit = resolve;
        this.rejectExit = reject;
      });
      this.exit.catch(() => undefined);
      if ((target.stderr ?? 'pipe') === 'pipe') {
        const stderr = new Readable({ read: () => this.grant() });
        const read = stderr.read.bind(stderr);
        stderr.read = (n?: number) => {
          const chunk = read(n) as unknown;
          this.grant();
          return chunk;
        };
        this.stderr = stderr;
      }
    }
  }

  // --- consumption → credit ---

  override read(size?: number): unknown {
    const chunk = super.read(size) as unknown;
    this.grant();
    return chunk;
  }

  override _read(): void {
    this.grant();
  }

  /** Hand back the credit of the bytes the consumer took (batched: a quarter window, or all once caught up). */
  private grant(): void {
    if (this.state !== 'open') return;
    const buffered = this.readableLength + (this.stderr?.readableLength ?? 0);
    if (this.blocked && buffered === 0) {
      this.blocked = false;
      const grown = Math.min(this.maxWindow, this.window * 2);
      this.granted -= grown - this.window; // the extra credit is owed at once
      this.window = grown;
    }
    const consumed = this.pushedOut + this.pushedErr - buffered;
    const owed = consumed - this.granted;
    if (owed <= 0 || (owed < this.window / 4 && buffered > 0)) return;
    this.granted += owed;
    this.host.send(encodeFrame(FrameType.WINDOW, this.id, u32(owed)));
  }

  // --- async iteration ---

  /**
   * `for await` over a process stream. Node's own iterator destroys the stream when the loop ends
   * and, since this Duplex is half-open (stdin may still be open), destroys it with an AbortError
   * even when the output simply ended. But the agent sends EOF as soon as the process's output is
   * drained and EXIT and CLOSE only once it has exited — under load in a later read — so the loop
   * ended, the stream was reset and `exit` rejected with that AbortError. Output read to its end is
   * not a cancellation: the stream ends its stdin (the reader is done with it, as a stream that is
   * not half-open does) and stays registered until EXIT and CLOSE; leaving the loop early (break,
   * throw) still destroys it, which resets it and stops the process. Sockets keep Node's iterator.
   */
  override [Symbol.asyncIterator](): NodeJS.AsyncIterator<unknown> {
    return this.target.kind === 'process' ? this.iterateProcess() : super[Symbol.asyncIterator]();
  }

  private async *iterateProcess(): AsyncGenerator<unknown, void, undefined> {
    let ended = false;
    try {
      for await (const chunk of this.iterator({ destroyOnReturn: false })) yield chunk;
      ended = true;
    } finally {
      if (!ended) this.destroy();
      else if (!this.writableEnded && !this.destroyed) this.end();
    }
  }

  // --- writing ---

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.state !== 'open') {
      cb(new AgentStreamResetError('EPIPE', this.label, 'the pod side has closed the stream'));
      return;
    }
    this.pending = { chunk, off: 0, cb };
    this.pump();
  }

  private pump(): void {
    while (this.pending && this.sendCredit > 0 && !this.waitingDrain && this.state === 'open') {
      const p = this.pending;
      const n = Math.min(p.chunk.length - p.off, this.sendCredit, MAX_DATA_CHUNK);
      const ok = this.host.send(encodeFrame(FrameType.DATA, this.id, p.chunk.subarray(p.off, p.off + n)));
      this.sendCredit -= n;
      p.off += n;
      if (p.off >= p.chunk.length) {
        this.pending = undefined;
        if (ok) p.cb();
        else this.host.onDrain(() => p.cb());
        return;
      }
      if (!ok) {
        this.waitingDrain = true;
        this.host.onDrain(() => {
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.state === 'open') this.host.send(encodeFrame(FrameType.EOF, this.id));
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!err && this.state === 'open' && this.readableEnded && this.writableFinished) {
      // Both directions ended normally (auto-destroy): the agent's EXIT and CLOSE are on their
      // way — stay registered for them instead of resetting.
      cb(null);
      return;
    }
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.host.send(
        encodeFrame(FrameType.RESET, this.id, Buffer.from(JSON.stringify({ code: 'ECANCELED', message: 'closed by the client' }))),
      );
      this.host.forget(this);
      const e = err ?? new SshAbortedError(`The stream to ${this.label}`);
      this.rejectOpen(e);
      this.rejectExit?.(e);
    }
    this.pending?.cb(err ?? undefined);
    this.pending = undefined;
    if (this.stderr && !this.stderr.destroyed && !this.stderr.readableEnded) this.stderr.destroy();
    cb(err);
  }

  // --- frames from the agent (called by the connection; a violation throws AgentProtocolError) ---

  onOpenOk(window: number, info: Record<string, unknown>): void {
    if (this.state !== 'opening') throw new AgentProtocolError(`OPEN_OK for stream ${this.id}, which is already open`);
    if (!(window >= 1 && window <= MAX_WINDOW)) throw new AgentProtocolError(`OPEN_OK with a window of ${window}`);
    this.state = 'open';
    this.sendCredit = window;
    if (typeof info.pid === 'number') this.pid = info.pid;
    this.resolveOpen();
  }

  /** The agent refused the OPEN: the stream never opened (no 'error' event; `opened` rejects). */
  onOpenFail(error: Error): void {
    if (this.state !== 'opening') throw new AgentProtocolError(`OPEN_FAIL for stream ${this.id}, which is already open`);
    this.state = 'closed';
    this.host.forget(this);
    this.rejectOpen(error);
    this.rejectExit?.(error);
    this.destroy();
  }

  onData(payload: Buffer, stderr: boolean): void {
    if (this.state !== 'open') throw new AgentProtocolError(`data on stream ${this.id} before it opened`);
    if (this.remoteEof) throw new AgentProtocolError(`data after EOF on stream ${this.id}`);
    if (stderr && this.target.kind !== 'process') throw new AgentProtocolError(`STDERR on stream ${this.id}, which is not a process`);
    this.received += payload.length;
    if (this.received - this.granted > this.window) {
      throw new AgentProtocolError(`stream ${this.id} received ${this.received - this.granted} bytes against a window of ${this.window}`);
    }
    if (this.destroyed) return;
    if (stderr) {
      if (!this.stderr) return; // 'merge'/'discard': the agent never sends STDERR; tolerate
      this.pushedErr += payload.length;
      this.stderr.push(payload);
    } else {
      this.pushedOut += payload.length;
      this.push(payload);
    }
    this.grant();
  }

  /** The agent's credit ran out: once our reader has taken everything (it keeps up), the window
   *  is the bottleneck, and grant() doubles it. */
  onBlocked(): void {
    if (this.state !== 'open') throw new AgentProtocolError(`BLOCKED for stream ${this.id} before it opened`);
    this.blocked = true;
    this.grant();
  }

  /** The current receive window (for tests and diagnostics). */
  get receiveWindow(): number {
    return this.window;
  }

  onWindow(increment: number): void {
    if (this.state !== 'open') throw new AgentProtocolError(`WINDOW for stream ${this.id} before it opened`);
    if (increment < 1 || this.sendCredit + increment > MAX_WINDOW) {
      throw new AgentProtocolError(`WINDOW of ${increment} overflows the credit of ${this.sendCredit} on stream ${this.id}`);
    }
    this.sendCredit += increment;
    this.pump();
  }

  onEof(): void {
    if (this.state !== 'open') throw new AgentProtocolError(`EOF for stream ${this.id} before it opened`);
    if (this.remoteEof) throw new AgentProtocolError(`EOF twice on stream ${this.id}`);
    this.remoteEof = true;
    this.push(null);
    this.stderr?.push(null);
  }

  onExit(info: Record<string, unknown>): void {
    if (this.state !== 'open' || !this.resolveExit)
      throw new AgentProtocolError(`EXIT for stream ${this.id}, which is not an open process`);
    const exitCode = typeof info.code === 'number' ? info.code : null;
    const signal = typeof info.signal === 'string' ? info.signal : null;
    this.resolveExit({ exitCode, signal });
  }

  /** The pod side finished the stream cleanly: the readable side ends (once read), writes stop. */
  onClose(): void {
    if (this.state !== 'open') throw new AgentProtocolError(`CLOSE for stream ${this.id} before it opened`);
    this.state = 'closed';
    this.host.forget(this);
    this.rejectExit?.(new AgentStreamResetError('EPIPE', this.label, 'the stream closed without an exit status'));
    if (this.destroyed) return; // it ended on both sides already (see _destroy)
    if (!this.remoteEof) {
      this.remoteEof = true;
      this.push(null);
      this.stderr?.push(null);
    }
    this.pending?.cb(new AgentStreamResetError('EPIPE', this.label, 'the pod side has closed the stream'));
    this.pending = undefined;
    if (!this.writableEnded) this.end();
  }

  onReset(code: string, message: string): void {
    if (this.state === 'closed') return;
    this.fail(new AgentStreamResetError(code, this.label, message));
  }

  /** The stream failed (reset, connection lost, protocol error). */
  fail(error: Error): void {
    if (this.state === 'opening') {
      this.state = 'closed';
      this.host.forget(this);
      this.rejectOpen(error);
      this.rejectExit?.(error);
      this.destroy();
      return;
    }
    if (this.state === 'closed' && this.destroyed) return;
    this.state = 'closed';
    this.host.forget(this);
    this.failure = error;
    this.rejectExit?.(error);
    if (this.stderr && !this.stderr.destroyed) this.stderr.destroy(this.stderr.listenerCount('error') > 0 ? error : undefined);
    this.destroy(this.listenerCount('error') > 0 ? error : undefined);
  }
}

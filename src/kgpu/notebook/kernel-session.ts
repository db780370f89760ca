/**
 * The editor's end of one notebook kernel in the pod: a JSON-lines conversation with the kernel
 * bridge (pod/kernel_bridge.py) over ONE pod-agent stream to the bridge's Unix socket.
 *
 * Nothing is lost on a dropped connection: every record the bridge sends carries a sequence
 * number, and after a drop the session opens a new stream and attaches with the last seq it saw —
 * the bridge kept everything since (it keeps records until they are acknowledged) and sends
 * exactly what was missed. Requests made while disconnected (execute, input, interrupt…) wait and
 * go out after the attach. A NEW session for the same kernel (a reloaded window) attaches with
 * `since: null`: the bridge replays from the last acknowledgement, which the session only moves
 * past whole executions — so a new session gets every unfinished execution from its start.
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { abortableDelay } from '../api/retry';
import { backoffReconnectPolicy, type ReconnectPolicy } from '../ssh/reconnect-policy';

const DEFAULT_RECONNECT = backoffReconnectPolicy();

/** One record from the bridge (see pod/kernel_bridge.py). */
export interface KernelRecord {
  /** Sequence number; 0 for the hello, null for a "dropped" marker. */
  seq: number | null;
  ch: 'iopub' | 'shell' | 'stdin' | 'control' | 'bridge';
  type: string;
  /** The request this answers (an execute's id), if any. */
  parent: string | null;
  content: Record<string, unknown>;
}

export interface KernelHello {
  proto: number;
  pid: number;
  kernel_pid: number | null;
  cwd: string;
  /** 'idle' | 'busy' | 'starting' | 'dead' */
  status: string;
  /** Executions queued or running in the kernel now, oldest first, with the tag given at execute. */
  execs: { id: string; tag: unknown; state: 'queued' | 'running' }[];
  /** The pending input_request's content, if the kernel waits for input(). */
  input: { prompt: string; password: boolean } | null;
  last: number;
  acked: number;
}

/** 'parked': closed on purpose after a quiet period with nothing running (the bridge keeps
 *  whatever comes meanwhile); the next request reattaches. */
export type KernelConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'parked' | 'lost' | 'disposed';

export interface KernelSessionOptions {
  /** Opens a new byte stream to the bridge's socket (through the pod agent). */
  open(signal: AbortSignal): Promise<Duplex>;
  /** The pod session's retry policy: the wait between reconnects after a drop (forever until disposed). */
  reconnect?: ReconnectPolicy;
  /** Whether an open failure means the bridge is gone for good (default: never). */
  isGone?(error: Error): boolean;
  /** Close the stream after this long with no execution unfinished and no input pending, so an
   *  idle kernel never keeps the pod's SSH idle clock running (the pod agent then closes too);
   *  the next request reattaches. Default: never. */
  quietCloseMs?: number;
}

const MAX_LINE = 64 * 1024 * 1024;

export class KernelSession implements Disposable {
  private readonly recordEmitter = new Emitter<KernelRecord>();
  private readonly helloEmitter = new Emitter<KernelHello>();
  private readonly stateEmitter = new Emitter<{ state: KernelConnectionState; error?: Error }>();
  /** Every record, in order, each once (the hello is on onDidAttach). */
  readonly onRecord: Event<KernelRecord> = this.recordEmitter.event;
  /** Each (re)attach's hello, before the records it replays. */
  readonly onDidAttach: Event<KernelHello> = this.helloEmitter.event;
  readonly onDidChangeState: Event<{ state: KernelConnectionState; error?: Error }> = this.stateEmitter.event;

  /** The last seq received (0: none yet). */
  lastSeq = 0;
  /** Attaches made (1 + reconnects). */
  attaches = 0;
  private attachedOnce = false;
  private current: KernelConnectionState = 'connecting';
  private stream: Duplex | undefined;
  private readonly outbox: string[] = [];
  private readonly unconfirmed = new Map<string, string>();
  private readonly lifetime = new AbortController();
  /** Executions sent and not finished (id → seen reply / idle). */
  private readonly open = new Map<string, { reply: boolean; idle: boolean }>();
  private ackedSeq = 0;
  private quietTimer: ReturnType<typeof setTimeout> | undefined;
  private inputPending = false;
  private firstHello: ((h: KernelHello) => void) | undefined;
  private firstFail: ((e: Error) => void) | undefined;
  /** Resolves with the first hello. */
  readonly ready: Promise<KernelHello>;

  constructor(private readonly options: KernelSessionOptions) {
    this.ready = new Promise<KernelHello>((resolve, reject) => {
      this.firstHello = resolve;
      this.firstFail = reject;
    });
    this.ready.catch(() => undefined);
    void this.connectLoop(false);
  }

  get state(): KernelConnectionState {
    return this.current;
  }

  /** Queue `code` in the kernel; returns the execution's id (the records' `parent`). */
  execute(code: string, tag?: unknown, id: string = randomUUID()): string {
    this.open.set(id, { reply: false, idle: false });
    // Kept until the bridge confirms it (its "execute" record) and sent again after a reattach: a
    // request written into a connection that then dropped is not lost (the bridge ignores an id
    // it has seen).
    const line = `${JSON.stringify({ op: 'execute', id, code, tag: tag ?? null })}\n`;
    this.unconfirmed.set(id, line);
    this.clearQuiet();
    if (this.stream && this.current === 'connected') this.stream.write(line);
    else this.wake();
    return id;
  }

  /** Answer the kernel's pending input(). */
  input(value: string): void {
    this.inputPending = false;
    this.send({ op: 'input', value });
  }

  interrupt(): void {
    this.send({ op: 'interrupt' });
  }

  /** A new kernel process. `env`: its kgpu.env (the current one: a restart picks up a changed
   *  setting; it travels inside this stream, never on a command line); `python`: its interpreter
   *  (kernelPythonArgv), e.g. the project's venv after its dependencies changed. */
  restart(options: { env?: Readonly<Record<string, string>>; python?: readonly string[] } = {}): void {
    this.send({
      op: 'restart',
      ...(options.env ? { env: { ...options.env } } : {}),
      ...(options.python ? { python: [...options.python] } : {}),
    });
  }

  /** Shut the kernel and its bridge down; the session then ends. */
  shutdown(): void {
    this.send({ op: 'shutdown' });
  }

  dispose(): void {
    if (this.current === 'disposed') return;
    this.lifetime.abort();
    this.clearQuiet();
    this.stream?.destroy();
    this.stream = undefined;
    this.setState('disposed');
    this.firstFail?.(new Error('The notebook kernel session was closed.'));
    this.recordEmitter.dispose();
    this.helloEmitter.dispose();
    this.stateEmitter.dispose();
  }

  /** Drop the current stream as a network failure would (tests, diagnostics). */
  dropConnection(): void {
    this.stream?.destroy(new Error('connection dropped'));
  }

  private setState(state: KernelConnectionState, error?: Error): void {
    if (this.current === 'disposed') return;
    this.current = state;
    this.stateEmitter.fire({ state, error });
  }

  private send(op: Record<string, unknown>): void {
    if (this.current === 'disposed' || this.current === 'lost') return;
    const line = `${JSON.stringify(op)}\n`;
    if (this.stream && this.current === 'connected') this.stream.write(line);
    else {
      this.outbox.push(line);
      this.wake();
    }
  }

  /** Reattach a parked session. */
  private wake(): void {
    if (this.current === 'parked') void this.connectLoop(true);
  }

  private armQuiet(): void {
    const ms = this.options.quietCloseMs;
    if (ms === undefined || this.quietTimer || this.current !== 'connected') return;
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      if (this.current !== 'connected' || this.open.size > 0 || this.inputPending || this.unconfirmed.size > 0) return;
      const s = this.stream;
      this.stream = undefined;
      this.setState('parked');
      s?.end();
      s?.destroy();
    }, ms);
    this.quietTimer.unref?.();
  }

  private clearQuiet(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }

  private async connectLoop(reconnect: boolean): Promise<void> {
    const signal = this.lifetime.signal;
    for (let attempt = 1; !signal.aborted; attempt++) {
      this.setState(reconnect ? 'reconnecting' : 'connecting');
      let stream: Duplex;
      try {
        stream = await this.options.open(signal);
      } catch (e) {
        if (signal.aborted) return;
        const err = e instanceof Error ? e : new Error(String(e));
        if (this.options.isGone?.(err)) {
          this.setState('lost', err);
          this.firstFail?.(err);
          return;
        }
        const wait = (this.options.reconnect ?? DEFAULT_RECONNECT).delayMs(attempt);
        try {
          await abortableDelay(wait, signal);
        } catch {
          return;
        }
        continue;
      }
      if (signal.aborted) {
        stream.destroy();
        return;
      }
      this.attach(stream);
      return;
    }
  }

  private attach(stream: Duplex): void {
    this.stream = stream;
    let buf = '';
    let attached = false;
    stream.setEncoding('utf8');
    const onEnd = (): void => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      stream.destroy();
      if (this.current === 'disposed' || this.current === 'lost') return;
      void this.connectLoop(true);
    };
    stream.on('error', onEnd);
    stream.on('close', onEnd);
    stream.on('end', onEnd);
    stream.on('data', (chunk: string) => {
      if (this.stream !== stream) return;
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        stream.destroy(new Error('a line from the kernel bridge is too long'));
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0 && this.stream === stream) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let r: KernelRecord;
        try {
          r = JSON.parse(line) as KernelRecord;
        } catch {
          continue;
        }
        if (!attached) {
          if (r.type !== 'hello') continue;
          attached = true;
          this.onHello(stream, r.content as unknown as KernelHello);
          continue;
        }
        this.onRecordLine(r);
      }
    });
    // A same-session reconnect continues after the last seq seen; a new session from the last ack.
    stream.write(`${JSON.stringify({ op: 'attach', since: this.attachedOnce ? this.lastSeq : null })}\n`);
  }

  private onHello(stream: Duplex, hello: KernelHello): void {
    this.attaches++;
    if (!this.attachedOnce) {
      for (const e of hello.execs) if (!this.open.has(e.id)) this.open.set(e.id, { reply: false, idle: false });
    }
    this.attachedOnce = true;
    this.setState('connected');
    this.helloEmitter.fire(hello);
    this.firstHello?.(hello);
    this.firstHello = undefined;
    this.firstFail = undefined;
    for (const line of this.unconfirmed.values()) stream.write(line);
    for (const line of this.outbox.splice(0)) stream.write(line);
    this.inputPending = hello.input !== null && hello.input !== undefined;
    if (this.open.size === 0 && !this.inputPending) this.armQuiet();
  }

  private onRecordLine(r: KernelRecord): void {
    if (typeof r.seq === 'number') {
      if (r.seq <= this.lastSeq) return; // never twice
      this.lastSeq = r.seq;
    }
    if (r.ch === 'bridge' && r.type === 'execute' && r.parent) {
      this.unconfirmed.delete(r.parent);
      if (!this.open.has(r.parent)) this.open.set(r.parent, { reply: false, idle: false });
    }
    if (r.parent && this.open.has(r.parent)) {
      const o = this.open.get(r.parent)!;
      if (r.ch === 'shell' && r.type === 'execute_reply') o.reply = true;
      if (r.ch === 'iopub' && r.type === 'status' && (r.content as { execution_state?: string }).execution_state === 'idle') o.idle = true;
      if (o.reply && o.idle) this.open.delete(r.parent);
    }
    if (r.ch === 'bridge' && (r.type === 'restarted' || r.type === 'died' || r.type === 'shutdown')) {
      if (r.type === 'died' && r.parent) this.open.delete(r.parent);
      else this.open.clear();
    }
    if (r.ch === 'stdin' && r.type === 'input_request') this.inputPending = true;
    if (r.ch === 'shell' && r.type === 'execute_reply') this.inputPending = false;
    if (this.open.size > 0 || this.inputPending) this.clearQuiet();
    else this.armQuiet();
    this.recordEmitter.fire(r);
    // Acknowledge only at a boundary where no execution is unfinished: a new session then
    // replays every unfinished execution from its start.
    if (typeof r.seq === 'number' && this.open.size === 0 && r.seq > this.ackedSeq) {
      this.ackedSeq = r.seq;
      this.send({ op: 'ack', seq: r.seq });
    }
    if (r.ch === 'bridge' && r.type === 'shutdown') {
      this.setState('lost', new Error('The kernel was shut down.'));
      this.stream?.end();
    }
  }
}

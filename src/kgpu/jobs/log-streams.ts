/**
 * A job's log as a stream the editor reads (a log panel): the offset delivered so far, saved
 * (throttled) as it moves so a reload resumes there, and closed by the user or stopped with the
 * runner. `DeferredStream` is one whose start offset needs a round trip first (from the end).
 */
import { SshAbortedError } from '../ssh/ssh-errors';
import type { FollowLogResult } from './log-follow';

export interface LogStream {
  readonly podId: string;
  readonly jobId: string;
  /** Offset just after the last chunk delivered. */
  readonly offset: number;
  readonly done: Promise<FollowLogResult>;
  /** Stop following (the user closed the panel): the job goes on; the stored offset is dropped. */
  close(): void;
}

export interface OpenLogOptions {
  /** A byte offset, 'stored' (where the last stream for this job stopped, else 0) or 'end' (only new output). */
  from?: number | 'stored' | 'end';
  onData(chunk: Buffer, offset: number): void | Promise<void>;
  onReconnect?(info: { attempt: number; offset: number; error: Error }): void;
  signal?: AbortSignal;
}

/** An AbortController that also aborts when `signal` does. */
export function linkedAbort(signal: AbortSignal | undefined): AbortController {
  const c = new AbortController();
  if (signal?.aborted) c.abort();
  else signal?.addEventListener('abort', () => c.abort(), { once: true });
  return c;
}

export class StreamImpl implements LogStream {
  private readonly controller: AbortController;
  private current: number;
  private finished = false;
  closedByUser = false;
  done!: Promise<FollowLogResult>;
  private lastSave = 0;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly podId: string,
    readonly jobId: string,
    fromOffset: number,
    signal: AbortSignal | undefined,
    private readonly save: (offset: number, forget: boolean) => void,
  ) {
    this.controller = linkedAbort(signal);
    this.current = fromOffset;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get offset(): number {
    return this.current;
  }

  /** A chunk ending at `offset` was handed to the consumer: remember it (throttled writes). */
  delivered(offset: number): void {
    this.current = offset;
    const now = Date.now();
    if (now - this.lastSave >= 250) {
      this.lastSave = now;
      this.save(offset, false);
    } else if (!this.saveTimer) {
      this.saveTimer = setTimeout(() => {
        this.saveTimer = undefined;
        if (this.finished) return;
        this.lastSave = Date.now();
        this.save(this.current, false);
      }, 250);
      this.saveTimer.unref?.();
    }
  }

  finish(forget: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.save(this.current, forget);
  }

  /** Stop following, keeping the offset stored (a reload). */
  abort(): void {
    this.controller.abort();
  }

  close(): void {
    this.closedByUser = true;
    this.controller.abort();
  }
}

/** A stream whose start offset is known only after a round trip ('end'). */
export class DeferredStream implements LogStream {
  private inner: LogStream | undefined;
  private closed = false;
  readonly done: Promise<FollowLogResult>;

  constructor(
    readonly podId: string,
    readonly jobId: string,
    offset: Promise<number>,
    open: (offset: number) => LogStream,
  ) {
    this.done = offset.then((o) => {
      if (this.closed) throw new SshAbortedError('Following the job log');
      this.inner = open(o);
      return this.inner.done;
    });
    this.done.catch(() => undefined);
  }

  get offset(): number {
    return this.inner?.offset ?? 0;
  }

  close(): void {
    this.closed = true;
    this.inner?.close();
  }
}

/**
 * The simulator's clock: simulated milliseconds since the epoch. Time passes `speed`× faster than
 * wall time (0 = frozen: only `advance()` moves it — what deterministic tests want) and jumps with
 * `advance(ms)`, which fires every due timer in due order, each seeing `now()` equal to its due time.
 */
import type { SimClock } from './contracts';

interface Timer {
  id: number;
  due: number;
  fn: () => void | Promise<void>;
}

export interface ClockTimer {
  cancel(): void;
}

export class SimClockImpl implements SimClock {
  private offset = 0;
  private readonly wallStart = Date.now();
  private readonly simStart: number;
  private timers: Timer[] = [];
  private nextId = 1;
  private wallTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** While advance() runs a timer, now() is pinned to that timer's due time. */
  private pinned: number | undefined;

  constructor(
    readonly speed: number,
    start = Date.now(),
  ) {
    if (!(speed >= 0) || !Number.isFinite(speed)) throw new Error(`clock speed must be a number ≥ 0, got ${speed}`);
    this.simStart = start;
  }

  now(): number {
    if (this.pinned !== undefined) return this.pinned;
    return Math.floor(this.simStart + this.offset + (Date.now() - this.wallStart) * this.speed);
  }

  /** Run `fn` when simulated time reaches `due`. */
  at(due: number, fn: () => void | Promise<void>): ClockTimer {
    const t: Timer = { id: this.nextId++, due, fn };
    this.timers.push(t);
    this.timers.sort((a, b) => a.due - b.due || a.id - b.id);
    this.armWall();
    return { cancel: () => this.cancel(t.id) };
  }

  after(ms: number, fn: () => void | Promise<void>): ClockTimer {
    return this.at(this.now() + ms, fn);
  }

  /** Number of pending timers (tests and diagnostics). */
  get pendingTimers(): number {
    return this.timers.length;
  }

  advance(ms: number): Promise<void> {
    if (!(ms >= 0)) return Promise.reject(new Error(`advance(ms) needs ms ≥ 0, got ${ms}`));
    const run = this.running.then(() => this.doAdvance(ms));
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Wait until timers already due (wall-clock driven) have run. */
  settle(): Promise<void> {
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    this.timers = [];
    if (this.wallTimer) clearTimeout(this.wallTimer);
    this.wallTimer = undefined;
  }

  private cancel(id: number): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  private async doAdvance(ms: number): Promise<void> {
    const target = this.now() + ms;
    const errors: unknown[] = [];
    for (;;) {
      const next = this.timers[0];
      if (!next || next.due > target || this.stopped) break;
      this.timers.shift();
      this.pinned = Math.max(next.due, this.now0());
      try {
        await next.fn();
      } catch (e) {
        errors.push(e);
      } finally {
        this.setNow(this.pinned);
        this.pinned = undefined;
      }
    }
    if (this.now() < target) this.setNow(target);
    this.armWall();
    if (errors.length) throw errors[0];
  }

  /** Time ignoring the pin. */
  private now0(): number {
    return Math.floor(this.simStart + this.offset + (Date.now() - this.wallStart) * this.speed);
  }

  private setNow(t: number): void {
    this.offset += t - this.now0();
  }

  /** With speed > 0, fire timers as wall time passes. */
  private armWall(): void {
    if (this.wallTimer) clearTimeout(this.wallTimer);
    this.wallTimer = undefined;
    if (this.speed === 0 || this.stopped) return;
    const next = this.timers[0];
    if (!next) return;
    const delay = Math.max(0, Math.min(2 ** 31 - 1, Math.ceil((next.due - this.now()) / this.speed)));
    this.wallTimer = setTimeout(() => {
      this.wallTimer = undefined;
      void this.advance(0).catch(() => undefined);
    }, delay);
    this.wallTimer.unref();
  }
}

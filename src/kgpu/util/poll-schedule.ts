/**
 * When to refresh the rentals next. The contract asks for GET /pods every 10–15 s only while a pod
 * is starting, and no faster ever; otherwise state changes slowly (billing is per minute, the idle
 * warning comes after 12 h), so a slow poll suffices to notice out-of-credits, evictions and
 * releases made elsewhere. Errors back off exponentially so a dead endpoint is not hammered.
 */
import type { Disposable } from './emitter';

export interface PollInputs {
  /** kgpu.pollIntervalSeconds (10–60). */
  pollIntervalSeconds: number;
  signedIn: boolean;
  /** Some pod is Pending. */
  hasPending: boolean;
  /** Some pod is Pending or Running (billing). */
  hasLive: boolean;
  /** Any kgpu view is visible. */
  viewsVisible: boolean;
  /** Refreshes that failed in a row (0 after a success). */
  consecutiveFailures: number;
}

/** The slow cadence while pods run (ms). */
export const LIVE_POLL_MS = 60_000;
/** While the views are hidden but pods bill, poll rarely: only the status bar and notifications need it. */
export const HIDDEN_LIVE_POLL_MS = 180_000;
/** Nothing running, views open: the GPU menu changes as others rent. */
export const IDLE_POLL_MS = 120_000;
/** The longest back-off after failures. */
export const MAX_BACKOFF_MS = 300_000;

/** Delay before the next automatic refresh in ms, or undefined for "don't poll". Never below 10 s. */
export function nextPollDelayMs(i: PollInputs): number | undefined {
  const pending = Math.min(Math.max(i.pollIntervalSeconds, 10), 15) * 1000;
  let base: number | undefined;
  if (i.signedIn && i.hasPending)
    base = pending; // even when hidden: a rent in progress
  else if (i.signedIn && i.hasLive) base = i.viewsVisible ? Math.max(LIVE_POLL_MS, i.pollIntervalSeconds * 1000) : HIDDEN_LIVE_POLL_MS;
  else if (i.viewsVisible) base = IDLE_POLL_MS;
  if (base === undefined) return undefined;
  if (i.consecutiveFailures > 0) {
    base = Math.min(MAX_BACKOFF_MS, Math.max(base, 15_000) * 2 ** Math.min(i.consecutiveFailures - 1, 5));
  }
  return Math.max(10_000, base);
}

/** A timer that re-reads its delay after every tick and whenever `reschedule()` is called. */
export class PollTimer implements Disposable {
  private handle: ReturnType<typeof setTimeout> | undefined;
  private dueAt: number | undefined;
  private disposed = false;
  private running = false;

  constructor(
    private readonly delayMs: () => number | undefined,
    private readonly tick: () => Promise<void>,
    /** Let the process exit while only this timer is pending (default true; tests keep it alive). */
    private readonly unref = true,
  ) {}

  /** Recompute the delay (inputs changed). Keeps an earlier due time when one is already set. */
  reschedule(): void {
    if (this.disposed || this.running) return;
    const delay = this.delayMs();
    if (delay === undefined) {
      this.clear();
      return;
    }
    const due = Date.now() + delay;
    if (this.handle && this.dueAt !== undefined && this.dueAt <= due) return;
    this.clear();
    this.dueAt = due;
    this.handle = setTimeout(() => void this.fire(), delay);
    if (this.unref) this.handle.unref?.();
  }

  private async fire(): Promise<void> {
    this.clear();
    this.running = true;
    try {
      await this.tick();
    } catch {
      // tick reports its own errors
    } finally {
      this.running = false;
      this.reschedule();
    }
  }

  private clear(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
    this.dueAt = undefined;
  }

  dispose(): void {
    this.disposed = true;
    this.clear();
  }
}

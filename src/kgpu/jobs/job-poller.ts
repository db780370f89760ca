/**
 * The job runner's status polling: every `pollMs` the pods with running jobs that no open log
 * follows are refreshed; a pod whose refresh fails is tried again after a growing pause
 * (jobPollBackoffMs), the others keep the cadence. One poll at a time.
 */
import { MAX_BACKOFF_MS } from '../util/poll-schedule';

/** How long a pod's job polling waits after `failures` failed polls in a row: pollMs doubled per
 *  failure, at most MAX_BACKOFF_MS (5 min). */
export function jobPollBackoffMs(pollMs: number, failures: number): number {
  return Math.min(MAX_BACKOFF_MS, pollMs * 2 ** Math.min(failures, 20));
}

export interface JobPollerOptions {
  /** How often (0 = never). */
  pollMs: number;
  /** The pods to refresh now. */
  pods(): Set<string>;
  refresh(podId: string): Promise<unknown>;
}

export class JobPoller {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Pods whose last polls failed: how many in a row, and when to try again. */
  private readonly backoff = new Map<string, { failures: number; nextAt: number }>();
  private polling = false;
  private disposed = false;
  private readonly pollMs: number;

  constructor(private readonly options: JobPollerOptions) {
    this.pollMs = options.pollMs;
    this.schedule();
  }

  private schedule(): void {
    if (this.pollMs <= 0 || this.disposed) return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedule()), this.pollMs);
    this.timer.unref?.();
  }

  /** Refresh the pods with running jobs that no open log follows. A pod whose refresh fails (not
   *  reachable, the key's passphrase cancelled) is tried again after 2, 4, 8… × pollMs (at most
   *  5 min), not at every tick; the others keep the cadence. */
  private async poll(): Promise<void> {
    if (this.polling || this.disposed) return;
    this.polling = true;
    try {
      const pods = this.options.pods();
      const now = Date.now();
      for (const p of this.backoff.keys()) if (!pods.has(p)) this.backoff.delete(p);
      await Promise.all(
        [...pods]
          .filter((p) => (this.backoff.get(p)?.nextAt ?? 0) <= now)
          .map((p) =>
            this.options.refresh(p).then(
              () => void this.backoff.delete(p),
              () => {
                const failures = (this.backoff.get(p)?.failures ?? 0) + 1;
                this.backoff.set(p, { failures, nextAt: Date.now() + jobPollBackoffMs(this.pollMs, failures) });
              },
            ),
          ),
      );
    } finally {
      this.polling = false;
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

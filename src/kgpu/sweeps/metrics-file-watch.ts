/**
 * A running sweep run's metrics.jsonl, read again while the run goes on (issue 23: the Sweeps view's
 * metrics update live, not only when the run ends): every `intervalMs` one bounded read of what the
 * run wrote since its mark (metrics-file.ts), one at a time (a slow read is never overlapped), until
 * stopped. A failed read is skipped; the run's final read at its end is the one that counts.
 */
import type { FileMetrics } from './metrics-file';

export const DEFAULT_METRICS_FILE_POLL_MS = 10_000;

export class MetricsFileWatch {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private last = '';

  constructor(
    private readonly read: () => Promise<FileMetrics | undefined>,
    private readonly onChange: (m: FileMetrics) => void,
    private readonly intervalMs: number = DEFAULT_METRICS_FILE_POLL_MS,
  ) {
    if (intervalMs > 0) this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    try {
      const m = await this.read();
      const key = m ? JSON.stringify([m.last, m.best]) : '';
      if (m && !this.stopped && key !== this.last) {
        this.last = key;
        this.onChange(m);
      }
    } catch {
      // skipped: the next tick (or the end's read) tries again
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/**
 * The kubelet's ephemeral-storage eviction in the simulator (SimState.checkDisks): a live pod whose
 * disk (/workspace + /tmp) holds more than its ephemeral_storage_gib ends with
 * `evicted_by_kubelet:OutOfephemeral-storage`. Checks run one after another.
 */
import type { EndReason } from './contracts';
import type { PodRecord } from './state-records';

export class DiskEvictions {
  constructor(
    private readonly pods: () => Iterable<PodRecord>,
    private readonly end: (pod: PodRecord, reason: EndReason) => Promise<void>,
  ) {}

  private queue: Promise<void> = Promise.resolve();
  private queued = 0;

  /**
   * The kubelet's eviction check: a live pod whose disk (/workspace + /tmp) holds more than its
   * ephemeral_storage_gib ends with `evicted_by_kubelet:OutOfephemeral-storage`. Runs every
   * `diskCheckIntervalMs` of wall time (disks fill in real time; `ifIdle` skips a tick while a
   * check is under way), and on demand (tests): an on-demand check always measures afresh.
   */
  check(o: { ifIdle?: boolean } = {}): Promise<void> {
    if (o.ifIdle && this.queued > 0) return this.queue;
    this.queued++;
    const run = this.queue.then(async () => {
      try {
        for (const pod of [...this.pods()]) {
          if (pod.ended_at !== null || !pod.handle) continue;
          let used = 0;
          try {
            used = await pod.handle.diskUsageBytes();
          } catch {
            continue;
          }
          if (pod.ended_at === null && used > pod.diskLimitBytes) await this.end(pod, 'evicted_by_kubelet:OutOfephemeral-storage');
        }
      } finally {
        this.queued--;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

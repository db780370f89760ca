/**
 * "Release when done": when a job ends, download the paths the user chose, then release its pod.
 * Plans are plain data (kept by the caller across a window reload) keyed by pod and job. Nothing
 * is lost on a failure: a download that fails (or refuses an entry) leaves the pod rented and
 * says why; a job that ended with its pod (lost) needs no release. One plan per job.
 */
import type { JobInfo } from '../jobs';
import type { DownloadResult } from '../transfer/pod-download';

export interface ReleasePlan {
  podId: string;
  jobId: string;
  /** Pod paths to download before releasing (may be empty). */
  paths: string[];
  /** The local folder they go to (required when paths is not empty). */
  localDir?: string;
}

export type ReleaseOutcome =
  | { kind: 'released'; plan: ReleasePlan; download?: DownloadResult }
  | { kind: 'kept'; plan: ReleasePlan; reason: string; error?: unknown; download?: DownloadResult }
  | { kind: 'pod-gone'; plan: ReleasePlan };

export interface ReleaseWhenDoneDeps {
  download(podId: string, paths: readonly string[], localDir: string): Promise<DownloadResult>;
  release(podId: string): Promise<unknown>;
  /** Plans survive a reload here (workspaceState); optional. */
  save?(plans: ReleasePlan[]): void;
}

export class ReleaseWhenDone {
  private readonly plans = new Map<string, ReleasePlan>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly deps: ReleaseWhenDoneDeps,
    restored: readonly ReleasePlan[] = [],
  ) {
    for (const p of restored) if (isPlan(p)) this.plans.set(key(p.podId, p.jobId), p);
  }

  add(plan: ReleasePlan): void {
    if (plan.paths.length > 0 && !plan.localDir) throw new Error('Choose a local folder for the files to download before releasing.');
    this.plans.set(key(plan.podId, plan.jobId), { ...plan, paths: [...plan.paths] });
    this.save();
  }

  cancel(podId: string, jobId: string): boolean {
    const had = this.plans.delete(key(podId, jobId));
    if (had) this.save();
    return had;
  }

  has(podId: string, jobId: string): boolean {
    return this.plans.has(key(podId, jobId));
  }

  get all(): ReleasePlan[] {
    return [...this.plans.values()];
  }

  /** The job ended (JobRunner.onDidEnd): carry out its plan, if any. */
  async jobEnded(podId: string, info: JobInfo): Promise<ReleaseOutcome | undefined> {
    const k = key(podId, info.id);
    const plan = this.plans.get(k);
    if (!plan || this.busy.has(k)) return undefined;
    this.busy.add(k);
    try {
      this.plans.delete(k);
      this.save();
      if (info.status.state === 'lost' || (info.status.state === 'oom' && info.status.evidence === 'pod-evicted'))
        return { kind: 'pod-gone', plan };
      let download: DownloadResult | undefined;
      if (plan.paths.length > 0) {
        try {
          download = await this.deps.download(podId, plan.paths, plan.localDir as string);
        } catch (error) {
          return { kind: 'kept', plan, reason: 'the download failed', error };
        }
        if (download.refused.length > 0)
          return { kind: 'kept', plan, reason: `${download.refused.length} item(s) could not be written locally`, download };
      }
      try {
        await this.deps.release(podId);
      } catch (error) {
        return { kind: 'kept', plan, reason: 'the release failed', error, download };
      }
      return { kind: 'released', plan, download };
    } finally {
      this.busy.delete(k);
    }
  }

  /** Drop the plans of a pod that ended. */
  podEnded(podId: string): void {
    let changed = false;
    for (const [k, p] of this.plans) if (p.podId === podId) changed = this.plans.delete(k) || changed;
    if (changed) this.save();
  }

  private save(): void {
    this.deps.save?.(this.all);
  }
}

function key(podId: string, jobId: string): string {
  return `${podId}\n${jobId}`;
}

function isPlan(p: unknown): p is ReleasePlan {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  return (
    typeof o.podId === 'string' &&
    typeof o.jobId === 'string' &&
    Array.isArray(o.paths) &&
    o.paths.every((x) => typeof x === 'string') &&
    (o.localDir === undefined || typeof o.localDir === 'string')
  );
}

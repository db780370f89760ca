/**
 * The jobs the runner knows, per pod: their last known state (from a list, a start, a stop, a
 * drained log or the pod's end), the recipe to run each again, and the events the views listen
 * to — a pod's list changed, a job we knew as running ended.
 */
import { Emitter, type Event } from '../util/emitter';
import { isJobEnded, statusAfterPodEnded, type JobInfo, type JobStatus } from './job-status';
import { jobKey, type JobRecords } from './job-records';
import type { StoredRecipe } from './run-plan';

export interface TrackedJob {
  readonly podId: string;
  info: JobInfo;
  /** How to run it again the way it was run (jobs started from this editor), less its environment. */
  recipe?: StoredRecipe;
  /** The pod's end reason when the job ended with its pod. */
  podEndReason?: string;
}

export interface JobEndEvent {
  job: TrackedJob;
  previous: JobStatus;
}

export class JobRegistry {
  private readonly byPod = new Map<string, Map<string, TrackedJob>>();
  private readonly changeEmitter = new Emitter<string>();
  private readonly endEmitter = new Emitter<JobEndEvent>();
  /** Fires with a pod id when that pod's job list or a job's state changed. */
  readonly onDidChange: Event<string> = this.changeEmitter.event;
  /** Fires when a job we knew as running has ended (incl. with its pod). */
  readonly onDidEnd: Event<JobEndEvent> = this.endEmitter.event;

  constructor(private readonly records: JobRecords) {}

  /** The pod's jobs, newest first. */
  jobs(podId: string): TrackedJob[] {
    return [...(this.byPod.get(podId)?.values() ?? [])].sort((a, b) => (a.info.id < b.info.id ? 1 : a.info.id > b.info.id ? -1 : 0));
  }

  get(podId: string, jobId: string): TrackedJob | undefined {
    return this.byPod.get(podId)?.get(jobId);
  }

  /** Every tracked job still running, across pods. */
  runningJobs(): TrackedJob[] {
    const out: TrackedJob[] = [];
    for (const m of this.byPod.values()) for (const j of m.values()) if (!isJobEnded(j.info.status)) out.push(j);
    return out;
  }

  /** The pod's job list as just read (listJobs): known jobs updated, new ones added with their
   *  stored recipe, the ones gone from the pod forgotten. */
  replace(podId: string, infos: readonly JobInfo[]): void {
    const recipes = this.records.recipes();
    let m = this.byPod.get(podId);
    if (!m) this.byPod.set(podId, (m = new Map()));
    const seen = new Set<string>();
    for (const info of infos) {
      seen.add(info.id);
      const known = m.get(info.id);
      if (known) this.update(known, info);
      else m.set(info.id, { podId, info, recipe: recipes[jobKey(podId, info.id)] });
    }
    for (const id of [...m.keys()]) if (!seen.has(id)) m.delete(id);
    this.changeEmitter.fire(podId);
  }

  /** A job's state as just learnt (started, stopped, its log drained), with its recipe when it was started here. */
  track(podId: string, info: JobInfo, recipe?: StoredRecipe): void {
    let m = this.byPod.get(podId);
    if (!m) this.byPod.set(podId, (m = new Map()));
    const known = m.get(info.id);
    if (recipe) this.records.storeRecipe(podId, info.id, recipe);
    if (known) {
      if (recipe) known.recipe = recipe;
      this.update(known, info);
    } else {
      m.set(info.id, { podId, info, recipe });
    }
    this.changeEmitter.fire(podId);
  }

  private update(job: TrackedJob, info: JobInfo): void {
    const previous = job.info.status;
    // A status read that raced the end (started → running after ended) must not revive a job.
    if (isJobEnded(previous) && !isJobEnded(info.status)) return;
    job.info = { ...info, name: info.name || job.info.name };
    if (!isJobEnded(previous) && isJobEnded(info.status)) this.endEmitter.fire({ job, previous });
  }

  /** The pod ended: its running jobs end with it (out of memory when it was evicted for OOM); each
   *  end is announced, the list change is left to the caller (`changed`). */
  endWithPod(podId: string, endReason: string): TrackedJob[] {
    const ended: TrackedJob[] = [];
    for (const job of this.byPod.get(podId)?.values() ?? []) {
      if (isJobEnded(job.info.status)) continue;
      const previous = job.info.status;
      job.info = { ...job.info, status: statusAfterPodEnded(previous, endReason) };
      job.podEndReason = endReason;
      ended.push(job);
      this.endEmitter.fire({ job, previous });
    }
    return ended;
  }

  /** Announce that the pod's list changed. */
  changed(podId: string): void {
    this.changeEmitter.fire(podId);
  }

  /** Forget a pod's jobs (it was cleared from the view). */
  forgetPod(podId: string): void {
    if (this.byPod.delete(podId)) this.changeEmitter.fire(podId);
  }

  dispose(): void {
    this.changeEmitter.dispose();
    this.endEmitter.dispose();
  }
}

/**
 * A sweep across pods (issue 23): independent jobs, one argument set each, queued over the pods
 * chosen — each pod runs one at a time; the folder is synced to a pod by its first run (the same
 * sync as Run) and later runs there start without syncing again. Each run is a normal job
 * (JobRunner.runFile), so its log, Stop and Re-run are those of any job. Per run: its state, exit,
 * duration (pod clock), cost (the pod's rate × duration, as the log footer), and the last value of
 * each metric it printed (metrics.ts).
 *
 * A pod that ends mid-sweep: its running run is re-queued on the others, once (a second pod end
 * fails it). Stop: queued runs are dropped, running jobs stopped. The plan (runs, their pods and
 * jobs, results) is stored after every change; `Sweep.resume` finds a stored sweep's jobs again
 * after a window reload — a running or ended run's log is read again from byte 0 for its metrics
 * and end, queued runs go on. The plan and how it is stored: sweep-plan.ts.
 */
import { Emitter, type Event } from '../util/emitter';
import { isJobEnded, type JobInfo, type JobStatus } from '../jobs/job-status';
import { endLabel, jobDurationMs } from '../jobs/job-log-text';
import type { JobRunner, KeyValueStore, RunFileSpec } from '../jobs/job-runner';
import { SshAbortedError } from '../ssh/ssh-errors';
import { planRun } from '../jobs/run-plan';
import type { PodCommands } from '../ssh/pod-commands';
import { markMetricsFile, readMetricsFile, type FileMetrics } from './metrics-file';
import { runCredits } from './sweep-cost';
import { mergeBest, MetricsReader } from './metrics';
import { MetricsFileWatch } from './metrics-file-watch';
import { storeSweep, type SweepPlan, type SweepRun, type SweepRunState } from './sweep-plan';

export { forgetSweep, newSweepPlan, storedSweeps, type SweepPlan, type SweepRun, type SweepRunState } from './sweep-plan';

export interface SweepOptions {
  runner: JobRunner;
  /** kgpu.env for each start (values go to the job only, never into the plan). */
  env(): Record<string, string>;
  /** Credits per hour of a pod (for each run's cost); undefined when unknown. */
  ratePerHour?(podId: string): number | undefined;
  /** Release the sweep's pods (when it ends with releasePodsWhenDone). */
  releasePods?(podIds: string[]): Promise<void>;
  /** Plans are stored here (workspaceState) after every change. */
  store?: KeyValueStore;
  /** Whether a pod is still alive (asked when a run's follow fails without the job's end: a
   *  dropped connection may be its pod ending before the pod watcher says so). */
  isPodLive?(podId: string): Promise<boolean>;
  /** Before the first run on each pod (e.g. fetching the large files from their transit object:
   *  fanout.ts); a failure fails that run. */
  beforeFirstRun?(podId: string): Promise<void>;
  /** The sweep has ended (e.g. delete its transit objects). */
  onEnd?(): Promise<void>;
  /** Commands on a pod: when given, each run's metrics.jsonl (in its working folder) is marked
   *  before it starts and read (bounded) when it ends (metrics-file.ts). */
  commands?(podId: string): Promise<PodCommands>;
  /** How often a running run's metrics.jsonl is read again (with `commands`; default 10 s; 0 = only at its end). */
  metricsFilePollMs?: number;
}

function runStateOf(status: JobStatus): SweepRunState {
  if (status.state === 'exited') return status.exitCode === 0 ? 'succeeded' : 'failed';
  if (status.state === 'killed' && status.stoppedByUser) return 'stopped';
  return 'failed';
}

export class Sweep {
  private readonly changeEmitter = new Emitter<SweepPlan>();
  /** Fires (with the plan) when a run or the sweep changed state, or a metric arrived. */
  readonly onDidChange: Event<SweepPlan> = this.changeEmitter.event;
  private readonly busy = new Set<string>();
  private readonly synced = new Set<string>();
  private readonly deadPods = new Set<string>();
  /** A running run's metrics.jsonl as last read (by run index). */
  private readonly liveFile = new Map<number, FileMetrics>();
  private readonly active = new Map<number, { podId: string; jobId: string }>();
  private stopping = false;
  private started = false;
  private finished = false;
  private resolveDone!: () => void;
  /** Resolves when no run is queued or running any more. */
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  private readonly endSub: { dispose(): void };

  constructor(
    readonly plan: SweepPlan,
    private readonly options: SweepOptions,
  ) {
    this.endSub = options.runner.onDidEnd((e) => {
      if (e.job.podEndReason && this.plan.pods.includes(e.job.podId)) this.podEnded(e.job.podId);
    });
  }

  /** Start (or go on with) the queued runs. */
  start(): this {
    this.started = true;
    this.save();
    this.pump();
    return this;
  }

  /** A stored sweep after a reload: its started runs' jobs are followed again at once; the queue
   *  goes on after start() (tell it first which of its pods have ended: podEnded()). */
  static resume(plan: SweepPlan, options: SweepOptions): Sweep {
    const s = new Sweep(plan, options);
    for (const run of plan.runs) {
      if (run.state === 'running' && !run.jobId) {
        // The window closed before its job started (while its pod synced or fetched): again.
        Object.assign(run, { state: 'queued', podId: undefined, metricsFileMark: undefined });
        continue;
      }
      if (run.state !== 'running' || !run.podId || !run.jobId) continue;
      const { podId, jobId } = run;
      s.busy.add(podId);
      s.synced.add(podId);
      s.active.set(run.index, { podId, jobId });
      const metrics = new MetricsReader();
      const stream = options.runner.openLog(podId, jobId, { from: 0, onData: (c) => s.onMetrics(run, metrics, c) });
      s.watchMetricsFile(run, podId, jobId, metrics, stream.done);
      void s.follow(run, podId, stream.done, metrics);
    }
    return s;
  }

  get isRunning(): boolean {
    return !this.finished;
  }

  /** A pod of the sweep ended: its run (if any) is re-queued by its follow's end. */
  podEnded(podId: string): void {
    if (this.deadPods.has(podId)) return;
    this.deadPods.add(podId);
    if (!this.busy.has(podId)) this.pump();
  }

  /** Drop the queue and stop the running jobs. */
  async stop(): Promise<void> {
    if (this.finished) return;
    this.stopping = true;
    for (const r of this.plan.runs) if (r.state === 'queued') r.state = 'stopped';
    this.changed();
    await Promise.all([...this.active.values()].map((a) => this.options.runner.stop(a.podId, a.jobId).catch(() => undefined)));
    this.pump();
    await this.done;
  }

  dispose(): void {
    this.endSub.dispose();
    this.changeEmitter.dispose();
  }

  private pump(): void {
    if (this.finished || !this.started) return;
    if (!this.stopping) {
      for (const podId of this.plan.pods) {
        if (this.busy.has(podId) || this.deadPods.has(podId)) continue;
        const run = this.plan.runs.find((r) => r.state === 'queued');
        if (!run) break;
        this.startRun(run, podId);
      }
      if (this.busy.size === 0 && this.plan.pods.every((p) => this.deadPods.has(p))) {
        for (const r of this.plan.runs)
          if (r.state === 'queued') Object.assign(r, { state: 'failed', end: 'every pod of the sweep ended' });
      }
    }
    if (this.busy.size === 0 && !this.plan.runs.some((r) => r.state === 'queued' || r.state === 'running')) void this.finish();
  }

  private startRun(run: SweepRun, podId: string): void {
    this.busy.add(podId);
    Object.assign(run, {
      state: 'running',
      podId,
      jobId: undefined,
      end: undefined,
      exitCode: undefined,
      durationMs: undefined,
      credits: undefined,
      metrics: {},
      best: undefined,
      metricsFileMark: undefined,
    });
    this.changed();
    void this.launch(run, podId);
  }

  private async launch(run: SweepRun, podId: string): Promise<void> {
    const firstOnPod = !this.synced.has(podId);
    const metrics = new MetricsReader();
    const recipe = this.plan.recipe;
    const target = recipe.target.kind === 'local' && !firstOnPod ? { ...recipe.target, synced: true } : recipe.target;
    let handle;
    try {
      if (firstOnPod && this.options.beforeFirstRun) await this.options.beforeFirstRun(podId);
      if (this.stopping) throw new SshAbortedError('The sweep');
      const cwd = this.cwdOf(run);
      if (this.options.commands && cwd)
        run.metricsFileMark = await markMetricsFile(await this.options.commands(podId), cwd).catch(() => undefined);
      if (this.stopping) throw new SshAbortedError('The sweep');
      const spec: RunFileSpec = {
        ...recipe,
        target,
        args: run.args,
        env: this.options.env(),
        podId,
        onData: (c) => this.onMetrics(run, metrics, c),
      };
      handle = this.options.runner.runFile(spec);
    } catch (e) {
      return this.fail(run, podId, e);
    }
    run.jobId = handle.jobId;
    this.active.set(run.index, { podId, jobId: handle.jobId });
    this.changed();
    this.watchMetricsFile(run, podId, handle.jobId, metrics, handle.done);
    handle.synced.then(
      (r) => r && this.synced.add(podId),
      () => undefined,
    );
    await this.follow(run, podId, handle.done, metrics);
  }

  /** metrics.jsonl while the run goes on (metrics-file-watch.ts), merged over what it printed, until `done`. */
  private watchMetricsFile(run: SweepRun, podId: string, jobId: string, metrics: MetricsReader, done: Promise<unknown>): void {
    if (!this.options.commands) return;
    const watch = new MetricsFileWatch(
      () => this.fileMetrics(run, podId),
      (file) => {
        if (run.state !== 'running' || run.jobId !== jobId) return;
        this.liveFile.set(run.index, file);
        run.metrics = { ...metrics.last, ...file.last };
        run.best = mergeBest({ ...metrics.best }, file.best);
        this.changed();
      },
      this.options.metricsFilePollMs,
    );
    const unwatch = (): void => {
      watch.stop();
      this.liveFile.delete(run.index);
    };
    done.then(unwatch, unwatch);
  }

  private onMetrics(run: SweepRun, reader: MetricsReader, chunk: Buffer): void {
    const before = JSON.stringify(reader.last);
    reader.push(chunk);
    if (JSON.stringify(reader.last) === before) return;
    const file = this.liveFile.get(run.index);
    run.metrics = { ...reader.last, ...file?.last };
    run.best = mergeBest({ ...reader.best }, file?.best ?? {});
    this.changed();
  }

  private cwdOf(run: SweepRun): string | undefined {
    try {
      return planRun({ ...this.plan.recipe, args: run.args, env: {} }).cwd;
    } catch {
      return undefined;
    }
  }

  /** What the run wrote to its metrics.jsonl (undefined when not asked for, or unreadable). */
  private async fileMetrics(run: SweepRun, podId: string) {
    const cwd = this.cwdOf(run);
    if (!this.options.commands || !cwd) return undefined;
    try {
      return await readMetricsFile(await this.options.commands(podId), cwd, run.metricsFileMark);
    } catch {
      return undefined;
    }
  }

  private async follow(run: SweepRun, podId: string, done: Promise<{ job: JobInfo }>, metrics: MetricsReader): Promise<void> {
    try {
      const r = await done;
      metrics.end();
      const file = await this.fileMetrics(run, podId);
      run.metrics = { ...metrics.last, ...file?.last };
      run.best = mergeBest({ ...metrics.best }, file?.best ?? {});
      this.ended(run, podId, { job: r.job });
    } catch (e) {
      await this.fail(run, podId, e);
    }
  }

  /** A run ended without its job's end (the start or the follow failed): its pod may have ended. */
  private async fail(run: SweepRun, podId: string, e: unknown): Promise<void> {
    if (!this.deadPods.has(podId) && this.options.isPodLive && !(await this.options.isPodLive(podId).catch(() => true)))
      this.deadPods.add(podId);
    this.ended(run, podId, { error: e });
  }

  private ended(run: SweepRun, podId: string, how: { job?: JobInfo; error?: unknown }): void {
    this.active.delete(run.index);
    const podGone = this.deadPods.has(podId);
    if (how.job && isJobEnded(how.job.status)) {
      const duration = jobDurationMs(how.job);
      const rate = this.options.ratePerHour?.(podId);
      Object.assign(run, {
        state: runStateOf(how.job.status),
        end: endLabel(how.job.status),
        exitCode: how.job.status.state === 'exited' ? how.job.status.exitCode : undefined,
        durationMs: duration,
        credits: rate !== undefined && duration !== undefined ? runCredits(rate, duration) : undefined,
      });
    } else if (podGone && !run.requeuedFrom && !this.stopping) {
      // Its pod ended: once more on another pod.
      Object.assign(run, {
        state: 'queued',
        requeuedFrom: { podId, jobId: run.jobId },
        podId: undefined,
        jobId: undefined,
        metrics: {},
        best: undefined,
      });
    } else {
      const why = podGone
        ? run.requeuedFrom
          ? 'its pod ended (for the second time)'
          : 'its pod ended'
        : how.error instanceof SshAbortedError && this.stopping
          ? 'stopped'
          : how.error instanceof Error
            ? how.error.message
            : String(how.error);
      Object.assign(run, { state: this.stopping ? 'stopped' : 'failed', end: why });
    }
    this.busy.delete(podId);
    this.changed();
    this.pump();
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.plan.state = this.stopping ? 'stopped' : 'done';
    this.changed();
    await this.options.onEnd?.().catch(() => undefined);
    if (this.plan.releasePodsWhenDone && this.options.releasePods) {
      const live = this.plan.pods.filter((p) => !this.deadPods.has(p));
      await this.options.releasePods(live).catch(() => undefined);
    }
    this.resolveDone();
  }

  private changed(): void {
    this.save();
    this.changeEmitter.fire(this.plan);
  }

  private save(): void {
    const store = this.options.store;
    if (!store) return;
    storeSweep(store, this.plan);
  }
}

/**
 * "Run Active File on GPU" without the editor: sync a local folder (or use a file already in the
 * pod), start the script as a detached job and follow its log — the follower is opened FIRST,
 * before the sync, and waits in the pod for the job to appear, so its connection set-up overlaps
 * the sync and the start and the first log line arrives one hop after the script prints it.
 *
 * The runner also keeps the jobs of each pod (for the Rentals view), their log streams with the
 * offsets reached (persisted, so a new instance after a window reload resumes exactly there:
 * nothing lost, nothing repeated), stop / re-run, and what becomes of running jobs when their pod
 * ends. `runFile()` is the one code path the editor command and the benchmark both call.
 */
import path from 'node:path';
import { depsPlan, type DepsPlan } from '../deps';
import type { PodCommands } from '../ssh/pod-commands';
import type { PodSession } from '../ssh/pod-session';
import { SshAbortedError } from '../ssh/ssh-errors';
import { syncUp } from '../transfer/sync';
import type { Event } from '../util/emitter';
import { WarmStart, type WarmStartSettings } from '../warm';
import { isJobEnded, jobStatus, listJobs, stopJob, type JobInfo } from './jobs';
import { jobKey, JobRecords, type KeyValueStore } from './job-records';
import { JobRegistry, type JobEndEvent, type TrackedJob } from './job-registry';
import { followLog } from './log-follow';
import { JobPoller } from './job-poller';
import { DeferredStream, StreamImpl, type LogStream, type OpenLogOptions } from './log-streams';
import { launch, type LaunchContext, type RunFileSpec, type RunHandle } from './run-launch';
import { DEFAULT_REMOTE_ROOT, gitignoreLiteral, planRun, RunError, type RunPlan, type StoredRecipe } from './run-plan';

// The runner's public face: its parts live beside it (run-plan, run-launch, log-streams,
// job-registry, job-records, job-poller); importing them from here keeps working.
export * from './run-plan';
export type { RunFileSpec, RunHandle } from './run-launch';
export type { LogStream, OpenLogOptions } from './log-streams';
export type { KeyValueStore } from './job-records';
export type { JobEndEvent, TrackedJob } from './job-registry';
export { jobPollBackoffMs } from './job-poller';

/** What the runner uses of a pod's session. */
export type RunnerSession = Pick<PodSession, 'reconnect' | 'notifyPathsChanged'>;

export interface JobRunnerOptions {
  /** Commands for a pod (each call a fresh connection: the bastion is single-channel). */
  commands(podId: string): Promise<PodCommands>;
  /** Offsets, open streams and recipes survive a reload here (workspaceState). */
  store?: KeyValueStore;
  /** Where syncUp keeps its local hash cache (global storage). */
  syncStateDir?: string;
  /** How often running jobs without an open log stream are polled for their status (default 5 000 ms; 0 = never). */
  pollMs?: number;
  /** The pod's session (src/kgpu/ssh/pod-session.ts): its one reconnect policy drives the log
   *  follows, and a Run's sync tells it which paths it changed (the kgpu: explorer shows them).
   *  Without it: the default policy, and nobody is told. */
  session?(podId: string): RunnerSession;
  /** Where job directories live in the pod (tests). */
  jobsRoot?: string;
  /** Warm start (src/kgpu/warm/): 'auto' tries the pod's fork server for runs with a recipe and
   *  starts one after a cold start; read per run (settings). Default off. */
  warmStart?: WarmStartSettings | (() => WarmStartSettings);
  /** Install the synced project's dependencies (requirements.txt, pyproject.toml,
   *  environment.yml) into a virtual environment in the pod before a run, and run with it
   *  (src/kgpu/deps/). Read per run. Default off. */
  projectDeps?: boolean | (() => boolean);
}

export class JobRunner {
  private readonly registry: JobRegistry;
  private readonly records: JobRecords;
  private readonly streams = new Set<StreamImpl>();
  /** Fires with a pod id when that pod's job list or a job's state changed. */
  readonly onDidChange: Event<string>;
  /** Fires when a job we knew as running has ended (incl. with its pod). */
  readonly onDidEnd: Event<JobEndEvent>;
  private readonly poller: JobPoller;
  private readonly warm: WarmStart | undefined;
  /** What a run's launch (run-launch.ts: follow first, then prepare — the sync —, then start) uses of this runner. */
  private readonly launchContext: LaunchContext;

  constructor(private readonly options: JobRunnerOptions) {
    this.records = new JobRecords(options.store);
    this.registry = new JobRegistry(this.records);
    this.onDidChange = this.registry.onDidChange;
    this.onDidEnd = this.registry.onDidEnd;
    const w = options.warmStart;
    this.warm = w ? new WarmStart(typeof w === 'function' ? w : () => w) : undefined;
    this.launchContext = {
      commands: (p) => this.options.commands(p),
      jobsRoot: this.options.jobsRoot,
      warm: this.warm,
      openStream: (p, j, from, o) => this.openStream(p, j, from, o),
      track: (p, info, r) => this.registry.track(p, info, r),
    };
    // Refresh the pods with running jobs that no open log follows.
    this.poller = new JobPoller({
      pollMs: options.pollMs ?? 5000,
      pods: () => {
        const pods = new Set<string>();
        for (const j of this.runningJobs()) if (!this.isStreaming(j.podId, j.info.id)) pods.add(j.podId);
        return pods;
      },
      refresh: (p) => this.refresh(p),
    });
  }

  /** The pod's session, when the runner was given sessions and the pod still has one. */
  private session(podId: string): RunnerSession | undefined {
    try {
      return this.options.session?.(podId);
    } catch {
      return undefined; // the pod has ended: its commands fail with the reason
    }
  }

  /** The pod's jobs, newest first. */
  jobs(podId: string): TrackedJob[] {
    return this.registry.jobs(podId);
  }

  get(podId: string, jobId: string): TrackedJob | undefined {
    return this.registry.get(podId, jobId);
  }

  /** Every tracked job still running, across pods. */
  runningJobs(): TrackedJob[] {
    return this.registry.runningJobs();
  }

  /** True when a log stream is open for this job (a panel shows it). */
  isStreaming(podId: string, jobId: string): boolean {
    for (const s of this.streams) if (s.podId === podId && s.jobId === jobId) return true;
    return false;
  }

  /** Re-read the pod's jobs (listJobs, one round trip). */
  async refresh(podId: string, signal?: AbortSignal): Promise<TrackedJob[]> {
    const pod = await this.options.commands(podId);
    const infos = await listJobs(pod, { jobsRoot: this.options.jobsRoot, signal });
    this.registry.replace(podId, infos);
    return this.jobs(podId);
  }

  /**
   * Jobs of this pod whose log stream was open when the previous instance went away (a window
   * reload) and that still have output to show, with the offset to resume from. Call after refresh().
   */
  resumable(podId: string): { job: TrackedJob; offset: number }[] {
    const stored = this.records.offsets();
    const out: { job: TrackedJob; offset: number }[] = [];
    for (const job of this.jobs(podId)) {
      const offset = stored[jobKey(podId, job.info.id)];
      if (offset === undefined || this.isStreaming(podId, job.info.id)) continue;
      if (!isJobEnded(job.info.status) || offset < job.info.logSize) out.push({ job, offset });
      else this.records.storeOffset(podId, job.info.id, undefined);
    }
    return out.reverse();
  }

  /** Sync (local files), start and follow — see the file comment. Returns at once. */
  runFile(spec: RunFileSpec): RunHandle {
    const t0 = performance.now();
    let plan = planRun(spec);
    const deps = this.depsFor(spec, plan);
    if (deps) plan = planRun({ ...spec, python: deps.python });
    const recipe: StoredRecipe = {
      target: spec.target,
      python: spec.python,
      args: [...spec.args],
      exclude: spec.exclude ? [...spec.exclude] : undefined,
      remoteRoot: spec.remoteRoot,
      launcher: spec.launcher,
    };
    const target = spec.target;
    if (target.kind === 'local' && target.onlyThisFile && path.dirname(path.resolve(target.file)) !== path.resolve(target.folder)) {
      throw new RunError(`${target.file} is not directly in ${target.folder}.`);
    }
    const exclude =
      target.kind === 'local' && target.onlyThisFile ? ['/*', `!/${gitignoreLiteral(path.basename(target.file))}`] : spec.exclude;
    return launch(
      this.launchContext,
      spec.podId,
      plan,
      spec.scriptPrefix ? undefined : recipe,
      spec,
      t0,
      deps,
      async (pod, signal, start) => {
        if (target.kind !== 'local' || !plan.remoteDir || target.synced) return undefined;
        try {
          // The job's start rides on the sync's own exec when the pod's copy is known complete there.
          const synced = await syncUp(pod, target.folder, plan.remoteDir, {
            exclude,
            stateDir: this.options.syncStateDir,
            signal,
            onProgress: spec.onSyncProgress,
            runAfter: start?.line,
            runAfterStdin: start?.stdin,
          });
          // The kgpu: file system forgets what it knew of these paths and the explorer shows them.
          this.session(spec.podId)?.notifyPathsChanged(synced.changes);
          return synced;
        } catch (e) {
          // A sync cut short may have moved some files into place.
          this.session(spec.podId)?.notifyPathsChanged([{ type: 'changed', path: plan.remoteDir }]);
          if (e instanceof SshAbortedError) throw e;
          throw new RunError(`Could not sync ${target.folder} to ${plan.remoteDir}: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
          });
        }
      },
    );
  }

  /** Run a job again: the same recipe (re-synced) when we know it, else the same command line in
   *  the same folder — with `env` (the settings' environment now; none is stored). */
  rerun(
    podId: string,
    jobId: string,
    sink: Pick<RunFileSpec, 'onData' | 'onSyncProgress' | 'onReconnect' | 'signal'> & { env?: Record<string, string> } = {},
  ): RunHandle {
    const job = this.get(podId, jobId);
    if (!job) throw new RunError(`Job ${jobId} is not known on pod ${podId}; refresh the Rentals view.`);
    const env = sink.env ?? {};
    if (job.recipe) return this.runFile({ ...job.recipe, ...sink, env, podId });
    if (!job.info.command || !job.info.cwd) throw new RunError(`Job ${jobId} has no recorded command to run again.`);
    const plan: RunPlan = { command: job.info.command, cwd: job.info.cwd, script: job.info.command, name: job.info.name };
    return launch(this.launchContext, podId, plan, undefined, { ...sink, env }, performance.now(), undefined, async () => undefined);
  }

  /** The environment a local run's project needs (its dependency files, read here), if any. */
  private depsFor(spec: RunFileSpec, plan: RunPlan): DepsPlan | undefined {
    const on = this.options.projectDeps;
    const t = spec.target;
    if (!(typeof on === 'function' ? on() : on) || t.kind !== 'local' || t.onlyThisFile || !plan.remoteDir) return undefined;
    const root = (spec.remoteRoot ?? DEFAULT_REMOTE_ROOT).replace(/\/+$/, '') || '/';
    return depsPlan({
      folder: t.folder,
      remoteDir: plan.remoteDir,
      script: plan.script,
      python: spec.python,
      venvsRoot: path.posix.join(root, '.kgpu/venvs'),
    });
  }

  /** Follow a job's log from an offset, into `onData`. */
  openLog(podId: string, jobId: string, options: OpenLogOptions): LogStream {
    const from = options.from ?? 0;
    if (typeof from === 'number') return this.openStream(podId, jobId, from, options);
    if (from === 'stored') return this.openStream(podId, jobId, this.records.storedOffset(podId, jobId) ?? 0, options);
    // 'end': the log's size now.
    const deferred = (async () => {
      const pod = await this.options.commands(podId);
      const info = await jobStatus(pod, jobId, { jobsRoot: this.options.jobsRoot, signal: options.signal });
      return info.logSize;
    })();
    return new DeferredStream(podId, jobId, deferred, (offset) => this.openStream(podId, jobId, offset, options));
  }

  private openStream(
    podId: string,
    jobId: string,
    fromOffset: number,
    options: Pick<OpenLogOptions, 'onData' | 'onReconnect' | 'signal'>,
  ): StreamImpl {
    const s = new StreamImpl(podId, jobId, fromOffset, options.signal, (offset, forget) =>
      this.records.storeOffset(podId, jobId, forget ? undefined : offset),
    );
    this.streams.add(s);
    this.records.storeOffset(podId, jobId, fromOffset);
    const run = (async () => {
      const pod = await this.options.commands(podId);
      return followLog(pod, jobId, {
        fromOffset,
        jobsRoot: this.options.jobsRoot,
        reconnect: this.session(podId)?.reconnect,
        signal: s.signal,
        onReconnect: options.onReconnect,
        onData: (chunk, offset) => {
          // Nothing is handed on once the stream was stopped, so the stored offset is exactly
          // what the consumer got.
          if (s.signal.aborted) return;
          s.delivered(offset);
          return options.onData(chunk, offset);
        },
      });
    })();
    s.done = run.then(
      (r) => {
        this.streams.delete(s);
        // Drained to the end of an ended job: nothing left to resume.
        s.finish(true);
        this.registry.track(podId, r.job);
        return r;
      },
      (e: unknown) => {
        this.streams.delete(s);
        s.finish(s.closedByUser);
        throw e;
      },
    );
    s.done.catch(() => undefined);
    return s;
  }

  /** Stop a job: SIGTERM to its process group, SIGKILL after `graceMs`. Resolves with its end. */
  async stop(podId: string, jobId: string, options: { graceMs?: number; signal?: AbortSignal } = {}): Promise<JobInfo> {
    const pod = await this.options.commands(podId);
    const info = await stopJob(pod, jobId, { jobsRoot: this.options.jobsRoot, graceMs: options.graceMs, signal: options.signal });
    this.registry.track(podId, info);
    return info;
  }

  /** The pod ended: its running jobs end with it (out of memory when it was evicted for OOM). */
  podEnded(podId: string, endReason: string): TrackedJob[] {
    const ended = this.registry.endWithPod(podId, endReason);
    for (const s of [...this.streams]) if (s.podId === podId) s.abort();
    if (ended.length) this.registry.changed(podId);
    return ended;
  }

  /** Forget a pod's jobs (it was cleared from the view). */
  forgetPod(podId: string): void {
    this.registry.forgetPod(podId);
  }

  /** Stops every stream (their offsets stay stored, for the next instance) and the polling. */
  dispose(): void {
    this.poller.dispose();
    for (const s of [...this.streams]) s.abort();
    this.streams.clear();
    this.registry.dispose();
  }
}

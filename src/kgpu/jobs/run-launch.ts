/**
 * One run's launch: the log follower is opened FIRST and waits in the pod for the job to appear,
 * so its connection set-up overlaps the sync and the start; then the sync (or nothing), then the
 * start — in the sync's own exec when it can, warm (the pod's fork server) when it can, gated on
 * the project's environment when there is one. What comes back is the run's handle of promises.
 */
import type { DepsPlan, DepsState } from '../deps';
import { depsMissing, ensureDeps, gateStart } from '../deps';
import type { PodCommands } from '../ssh/pod-commands';
import type { SyncProgress, SyncResult } from '../transfer/sync';
import { parseStartMode, startWithMode, type ForkServerResult, type StartMode, type WarmRun, type WarmStart } from '../warm';
import { JobNotFoundError, newJobId, prepareStart, startError, startJob, type JobInfo, type StartJobSpec } from './jobs';
import type { FollowLogResult } from './log-follow';
import { linkedAbort, type LogStream, type OpenLogOptions, type StreamImpl } from './log-streams';
import type { RunPlan, RunRecipe, StoredRecipe } from './run-plan';

export interface RunFileSpec extends RunRecipe {
  podId: string;
  /** Each log chunk, in order, from byte 0 (the log panel). */
  onData?(chunk: Buffer, offset: number): void | Promise<void>;
  onSyncProgress?(p: SyncProgress): void;
  /** Called before each reconnect of the log follower after a dropped connection. */
  onReconnect?(info: { attempt: number; offset: number; error: Error }): void;
  /** Each line of the project's dependency install (progress, the installer's output). */
  onDepsOutput?(line: string): void;
  signal?: AbortSignal;
}

export interface RunHandle {
  podId: string;
  jobId: string;
  plan: RunPlan;
  /** The sync's result (undefined for a file already in the pod); rejects when the sync fails. */
  synced: Promise<SyncResult | undefined>;
  /** Resolves when the job is launched. */
  started: Promise<JobInfo>;
  /** Milliseconds from the runFile() call to the first log byte delivered; undefined when the job
   *  ended without output (or the run failed before any). */
  firstByte: Promise<number | undefined>;
  /** The follow's end: the job has ended and its log is drained. Rejects if the sync or start failed. */
  done: Promise<FollowLogResult>;
  /** The log stream feeding onData. */
  stream: LogStream;
  /** Warm or cold (and why) — undefined when warm starts are off or it is unknown. */
  startMode: Promise<StartMode | undefined>;
  /** The fork server started in the background after a cold start for want of one (undefined:
   *  none was needed). Never rejects. */
  forkServer: Promise<ForkServerResult | undefined>;
  /** The project's environment (src/kgpu/deps/) the job ran with, and whether this run installed
   *  it; undefined when the project declares no dependencies (or the run failed). Never rejects. */
  deps: Promise<{ plan: DepsPlan; state: DepsState } | undefined>;
}

/** What a launch uses of its runner. */
export interface LaunchContext {
  commands(podId: string): Promise<PodCommands>;
  jobsRoot: string | undefined;
  warm: WarmStart | undefined;
  /** Follow the job's log from `fromOffset` (a stream the runner keeps). */
  openStream(
    podId: string,
    jobId: string,
    fromOffset: number,
    options: Pick<OpenLogOptions, 'onData' | 'onReconnect' | 'signal'>,
  ): StreamImpl;
  /** Record the job's state (and the recipe it was started with). */
  track(podId: string, info: JobInfo, recipe?: StoredRecipe): void;
}

/** What a launch hands on to the caller: log chunks, reconnects, the install's output; its cancellation and environment. */
export type LaunchSink = Pick<RunFileSpec, 'onData' | 'onReconnect' | 'onDepsOutput' | 'signal'> & { env?: Record<string, string> };

/** Sync (or nothing); the start command (`line`, fed `stdin`) may be run by it (SyncResult.ranAfter), else the launch starts after. */
export type PrepareRun = (
  pod: PodCommands,
  signal: AbortSignal,
  start: { line: string; stdin: Buffer } | undefined,
) => Promise<SyncResult | undefined>;

/** Launch a planned run — see the file comment. Returns at once. */
export function launch(
  ctx: LaunchContext,
  podId: string,
  plan: RunPlan,
  recipe: StoredRecipe | undefined,
  spec: LaunchSink,
  t0: number,
  /** The project's environment: the start is gated on it, installed when missing (src/kgpu/deps/). */
  deps: DepsPlan | undefined,
  prepare: PrepareRun,
): RunHandle {
  const jobId = newJobId();
  const abort = linkedAbort(spec.signal);
  let resolveFirst!: (ms: number | undefined) => void;
  const firstByte = new Promise<number | undefined>((r) => (resolveFirst = r));
  const podCommands = ctx.commands(podId);
  podCommands.catch(() => undefined);

  // 1. The follower first: it waits in the pod for the job directory.
  const followSink = {
    onData: (chunk: Buffer, offset: number) => {
      resolveFirst(performance.now() - t0);
      return spec.onData?.(chunk, offset);
    },
    onReconnect: spec.onReconnect,
  };
  const stream = ctx.openStream(podId, jobId, 0, { ...followSink, signal: abort.signal });
  // 2. Sync, then 3. start — in the sync's exec when it can (one exec fewer), else on its own;
  // warm (the pod's fork server forks the job) when it can, else cold, in that same exec.
  const warmRun: Omit<WarmRun, 'preload'> | undefined =
    recipe && ctx.warm && recipe.launcher?.kind !== 'torchrun'
      ? { python: deps?.python ?? recipe.python, script: plan.script, args: recipe.args, cwd: plan.cwd, env: spec.env ?? {} }
      : undefined;
  const warm = warmRun ? ctx.warm?.launchFor(warmRun) : undefined;
  const startSpec: StartJobSpec = {
    command: plan.command,
    cwd: plan.cwd,
    env: spec.env,
    name: plan.name,
    id: jobId,
    jobsRoot: ctx.jobsRoot,
    launch: warm?.launch,
    signal: abort.signal,
  };
  let prepared: ReturnType<typeof prepareStart> | undefined;
  try {
    prepared = prepareStart(startSpec);
  } catch {
    prepared = undefined; // startJob() below reports the same error
  }
  // With a project environment the start runs only once it is installed (a marker check in the
  // same exec); when it is not, the start did nothing: install (output to onDepsOutput), then start.
  const synced = podCommands.then((pod) =>
    prepare(pod, abort.signal, prepared && { line: deps ? gateStart(prepared.line, deps) : prepared.line, stdin: prepared.stdin }),
  );
  let mode: StartMode | undefined;
  let depsState: DepsState | undefined;
  const started = synced.then(async (sync) => {
    let info: JobInfo;
    const ranAfter = sync?.ranAfter && !(deps && depsMissing(sync.ranAfter)) ? sync.ranAfter : undefined;
    if (deps)
      depsState = ranAfter
        ? 'reused'
        : await ensureDeps(await podCommands, deps, { onOutput: spec.onDepsOutput, signal: abort.signal, env: spec.env });
    if (ranAfter && prepared) {
      if (ranAfter.exitCode !== 0) throw startError(ranAfter.exitCode, null, ranAfter.stderr);
      info = prepared.info;
      if (warm?.launch) mode = parseStartMode(ranAfter.stderr);
    } else if (warm?.launch) {
      ({ info, mode } = await startWithMode(await podCommands, startSpec));
    } else {
      info = await startJob(await podCommands, startSpec);
    }
    mode ??= warm?.mode;
    ctx.track(podId, info, recipe);
    return info;
  });
  const startMode = started.then(
    () => mode,
    () => undefined,
  );
  // After a cold start for want of a fork server, start one for the next run (a connection of
  // its own, in the background).
  const forkServer = startMode.then((m) => (warmRun && ctx.warm ? ctx.warm.afterStart(() => ctx.commands(podId), m, warmRun) : undefined));
  // A failed sync/start ends the follower (which would wait for a job that never comes) with that error.
  const failure = started.then(
    () => undefined,
    (e: unknown) => {
      abort.abort();
      return e;
    },
  );
  const done = stream.done.then(
    (r) => r,
    async (e: unknown) => {
      const startError = await failure;
      if (startError) throw startError;
      // The follower waits a bounded time for the job to appear; an install (or the wait for
      // another run's install of the same environment) can take longer:
      // follow again (the panel's close still stops it: linked to the first stream's signal).
      if (e instanceof JobNotFoundError && depsState !== undefined)
        return ctx.openStream(podId, jobId, stream.offset, { ...followSink, signal: stream.signal }).done;
      throw e;
    },
  );
  done.then(
    () => resolveFirst(undefined),
    () => resolveFirst(undefined),
  );
  synced.catch(() => undefined);
  started.catch(() => undefined);
  const depsDone = started.then(
    () => (deps && depsState ? { plan: deps, state: depsState } : undefined),
    () => undefined,
  );
  return { podId, jobId, plan, synced, started, firstByte, done, stream, startMode, forkServer, deps: depsDone };
}

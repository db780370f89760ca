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
import { Emitter, type Event } from '../util/emitter';
import { depsMissing, depsPlan, ensureDeps, gateStart, type DepsPlan, type DepsState } from '../deps';
import {
  isJobEnded,
  JobNotFoundError,
  jobStatus,
  listJobs,
  newJobId,
  prepareStart,
  startError,
  startJob,
  statusAfterPodEnded,
  stopJob,
  type JobInfo,
  type JobStatus,
  type StartJobSpec,
} from './jobs';
import { followLog, type FollowLogResult } from './log-follow';
import { MAX_BACKOFF_MS } from '../util/poll-schedule';
import type { PodCommands } from '../ssh/pod-commands';
import { quote, quoteArgv } from '../util/shell-quote';
import { SshAbortedError } from '../ssh/ssh-errors';
import { syncUp, type SyncProgress, type SyncResult } from '../transfer/sync';
import {
  parseStartMode,
  startWithMode,
  WarmStart,
  type ForkServerResult,
  type StartMode,
  type WarmRun,
  type WarmStartSettings,
} from '../warm';
import { torchrunPrefix, type Launcher } from '../launch/torchrun';

/** Where the file to run lives. */
export type RunTarget =
  /** A file in a local folder: the folder is synced to `<remoteRoot>/<folder name>` first
   *  (`onlyThisFile`: only the file, which must be directly in `folder` — for a file outside any
   *  workspace folder, whose directory may be the home directory; `synced`: the folder was just
   *  synced to this pod — a sweep's later runs — so the job starts without syncing again). */
  | { kind: 'local'; folder: string; file: string; onlyThisFile?: boolean; synced?: boolean }
  /** A file already in the pod (a kgpu:// editor): run in place. */
  | { kind: 'pod'; path: string };

/** Everything needed to (re-)run a file. */
export interface RunRecipe {
  target: RunTarget;
  /** kgpu.python — a command prefix, e.g. "python" or "uv run python". */
  python: string;
  args: readonly string[];
  /** kgpu.env: the job's extra environment. Values are secrets: they go to the job only (on the
   *  start command's stdin), never into a command line or a stored recipe. */
  env: Record<string, string>;
  /** kgpu.syncExclude (gitignore syntax). */
  exclude?: readonly string[];
  /** Parent folder of synced folders in the pod (default /workspace). */
  remoteRoot?: string;
  /** torchrun with one worker per GPU instead of one python process (src/kgpu/launch/). */
  launcher?: Launcher;
  /** Arguments (a pod path first) run before the script, which becomes their argument — a debug
   *  launch's pod/debug_launch.py (src/kgpu/debug/debug-job.ts). Such a run is never warm. */
  scriptPrefix?: readonly string[];
}

/** What is kept (workspaceState, JSON) to re-run a job: the recipe without the environment — a
 *  re-run takes the environment from the settings of the moment. */
export type StoredRecipe = Omit<RunRecipe, 'env'>;

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

export interface RunPlan {
  /** The shell command line the job runs. */
  command: string;
  /** Working directory in the pod. */
  cwd: string;
  /** Pod folder the local folder is synced to (local targets only). */
  remoteDir?: string;
  /** The script as given to python (relative to cwd). */
  script: string;
  /** A short label: "train.py --epochs 3". */
  name: string;
  /** torchrun's workers (the log's lines carry their rank); undefined for one python process. */
  ranks?: number;
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

export interface LogStream {
  readonly podId: string;
  readonly jobId: string;
  /** Offset just after the last chunk delivered. */
  readonly offset: number;
  readonly done: Promise<FollowLogResult>;
  /** Stop following (the user closed the panel): the job goes on; the stored offset is dropped. */
  close(): void;
}

export interface OpenLogOptions {
  /** A byte offset, 'stored' (where the last stream for this job stopped, else 0) or 'end' (only new output). */
  from?: number | 'stored' | 'end';
  onData(chunk: Buffer, offset: number): void | Promise<void>;
  onReconnect?(info: { attempt: number; offset: number; error: Error }): void;
  signal?: AbortSignal;
}

/** A VS Code Memento has this shape (workspaceState); tests pass a Map-backed one. */
export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): unknown;
}

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

export interface JobRunnerOptions {
  /** Commands for a pod (each call a fresh connection: the bastion is single-channel). */
  commands(podId: string): Promise<PodCommands>;
  /** Offsets, open streams and recipes survive a reload here (workspaceState). */
  store?: KeyValueStore;
  /** Where syncUp keeps its local hash cache (global storage). */
  syncStateDir?: string;
  /** How often running jobs without an open log stream are polled for their status (default 5 000 ms; 0 = never). */
  pollMs?: number;
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

export class RunError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

const STREAMS_KEY = 'kgpu.jobs.streams';
const RECIPES_KEY = 'kgpu.jobs.recipes';
const MAX_RECIPES = 200;
const DEFAULT_REMOTE_ROOT = '/workspace';

function jobKey(podId: string, jobId: string): string {
  return `${podId}/${jobId}`;
}

/** What running a target means: the command line, its working directory, the sync folder. */
export function planRun(recipe: RunRecipe): RunPlan {
  const torchrun = recipe.launcher?.kind === 'torchrun' ? recipe.launcher : undefined;
  const plan = planPython(torchrun ? { ...recipe, python: torchrunPrefix(recipe.python, torchrun.nprocPerNode) } : recipe);
  return torchrun ? { ...plan, ranks: torchrun.nprocPerNode } : plan;
}

function planPython(recipe: RunRecipe): RunPlan {
  const python = recipe.python.trim() || 'python';
  const args = recipe.args.length ? ' ' + quoteArgv(recipe.args) : '';
  const pre = recipe.scriptPrefix?.length ? quoteArgv(recipe.scriptPrefix) + ' ' : '';
  const label = (script: string): string => {
    const n = [path.posix.basename(script), ...recipe.args].join(' ');
    return n.length > 60 ? n.slice(0, 57) + '...' : n;
  };
  if (recipe.target.kind === 'pod') {
    const p = recipe.target.path;
    if (!p.startsWith('/')) throw new RunError(`The pod path must be absolute (got "${p}").`);
    const cwd = path.posix.dirname(p);
    const script = path.posix.basename(p);
    return { command: `${python} ${pre}${quote(scriptArg(script))}${args}`, cwd, script, name: label(script) };
  }
  const { folder, file } = recipe.target;
  const rel = path.relative(folder, file);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) throw new RunError(`${file} is not inside the folder ${folder}.`);
  const script = rel.split(path.sep).join('/');
  const folderName = path.basename(path.resolve(folder));
  if (!folderName || folderName === '.' || folderName === '..')
    throw new RunError(`Cannot sync the folder ${folder}: it has no name to use in the pod.`);
  const root = (recipe.remoteRoot ?? DEFAULT_REMOTE_ROOT).replace(/\/+$/, '') || '/';
  const remoteDir = path.posix.join(root, folderName);
  return { command: `${python} ${pre}${quote(scriptArg(script))}${args}`, cwd: remoteDir, remoteDir, script, name: label(script) };
}

/** The script as the interpreter's first argument: a name that starts with `-` (one legal file
 *  name, e.g. `-cimport os;….py`) would be read as an option — `python -c<code>` runs the name as a
 *  program — so it is passed as `./name`. (`--` is not an option: `python -- x.py` is not
 *  understood by every interpreter a kgpu.python prefix may name.) */
export function scriptArg(script: string): string {
  return script.startsWith('-') ? `./${script}` : script;
}

/** How long a pod's job polling waits after `failures` failed polls in a row: pollMs doubled per
 *  failure, at most MAX_BACKOFF_MS (5 min). */
export function jobPollBackoffMs(pollMs: number, failures: number): number {
  return Math.min(MAX_BACKOFF_MS, pollMs * 2 ** Math.min(failures, 20));
}

/** Versions before 0.1.1 stored each recipe's environment, values included: drop them. */
function scrubStoredEnvironments(store: KeyValueStore | undefined): void {
  const all = store?.get<Record<string, StoredRecipe & { env?: unknown }>>(RECIPES_KEY);
  if (!store || !all || !Object.values(all).some((r) => r && typeof r === 'object' && 'env' in r)) return;
  const clean: Record<string, StoredRecipe> = {};
  for (const [k, r] of Object.entries(all)) {
    const { env: _env, ...rest } = r;
    void _env;
    clean[k] = rest;
  }
  void store.update(RECIPES_KEY, clean);
}

/** A file name as a gitignore pattern that matches only itself. */
export function gitignoreLiteral(name: string): string {
  return name.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`).replace(/ $/, '\\ ');
}

function linkedAbort(signal: AbortSignal | undefined): AbortController {
  const c = new AbortController();
  if (signal?.aborted) c.abort();
  else signal?.addEventListener('abort', () => c.abort(), { once: true });
  return c;
}

export class JobRunner {
  private readonly byPod = new Map<string, Map<string, TrackedJob>>();
  private readonly streams = new Set<StreamImpl>();
  private readonly changeEmitter = new Emitter<string>();
  private readonly endEmitter = new Emitter<JobEndEvent>();
  /** Fires with a pod id when that pod's job list or a job's state changed. */
  readonly onDidChange: Event<string> = this.changeEmitter.event;
  /** Fires when a job we knew as running has ended (incl. with its pod). */
  readonly onDidEnd: Event<JobEndEvent> = this.endEmitter.event;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly pollMs: number;
  /** Pods whose last polls failed: how many in a row, and when to try again. */
  private readonly backoff = new Map<string, { failures: number; nextAt: number }>();
  private polling = false;
  private disposed = false;
  private readonly warm: WarmStart | undefined;

  constructor(private readonly options: JobRunnerOptions) {
    scrubStoredEnvironments(options.store);
    const w = options.warmStart;
    this.warm = w ? new WarmStart(typeof w === 'function' ? w : () => w) : undefined;
    this.pollMs = options.pollMs ?? 5000;
    this.schedulePoll();
  }

  private schedulePoll(): void {
    if (this.pollMs <= 0 || this.disposed) return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedulePoll()), this.pollMs);
    this.timer.unref?.();
  }

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

  /** True when a log stream is open for this job (a panel shows it). */
  isStreaming(podId: string, jobId: string): boolean {
    for (const s of this.streams) if (s.podId === podId && s.jobId === jobId) return true;
    return false;
  }

  /** Re-read the pod's jobs (listJobs, one round trip). */
  async refresh(podId: string, signal?: AbortSignal): Promise<TrackedJob[]> {
    const pod = await this.options.commands(podId);
    const infos = await listJobs(pod, { jobsRoot: this.options.jobsRoot, signal });
    const recipes = this.options.store?.get<Record<string, StoredRecipe>>(RECIPES_KEY) ?? {};
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
    return this.jobs(podId);
  }

  /**
   * Jobs of this pod whose log stream was open when the previous instance went away (a window
   * reload) and that still have output to show, with the offset to resume from. Call after refresh().
   */
  resumable(podId: string): { job: TrackedJob; offset: number }[] {
    const stored = this.options.store?.get<Record<string, number>>(STREAMS_KEY) ?? {};
    const out: { job: TrackedJob; offset: number }[] = [];
    for (const job of this.jobs(podId)) {
      const offset = stored[jobKey(podId, job.info.id)];
      if (offset === undefined || this.isStreaming(podId, job.info.id)) continue;
      if (!isJobEnded(job.info.status) || offset < job.info.logSize) out.push({ job, offset });
      else this.storeOffset(podId, job.info.id, undefined);
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
    return this.launch(spec.podId, plan, spec.scriptPrefix ? undefined : recipe, spec, t0, deps, async (pod, signal, start) => {
      if (target.kind !== 'local' || !plan.remoteDir || target.synced) return undefined;
      try {
        // The job's start rides on the sync's own exec when the pod's copy is known complete there.
        return await syncUp(pod, target.folder, plan.remoteDir, {
          exclude,
          stateDir: this.options.syncStateDir,
          signal,
          onProgress: spec.onSyncProgress,
          runAfter: start?.line,
          runAfterStdin: start?.stdin,
        });
      } catch (e) {
        if (e instanceof SshAbortedError) throw e;
        throw new RunError(`Could not sync ${target.folder} to ${plan.remoteDir}: ${e instanceof Error ? e.message : String(e)}`, {
          cause: e,
        });
      }
    });
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
    return this.launch(podId, plan, undefined, { ...sink, env }, performance.now(), undefined, async () => undefined);
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

  private launch(
    podId: string,
    plan: RunPlan,
    recipe: StoredRecipe | undefined,
    spec: Pick<RunFileSpec, 'onData' | 'onReconnect' | 'onDepsOutput' | 'signal'> & { env?: Record<string, string> },
    t0: number,
    /** The project's environment: the start is gated on it, installed when missing (src/kgpu/deps/). */
    deps: DepsPlan | undefined,
    /** Sync (or nothing); the start command (`line`, fed `stdin`) may be run by it (SyncResult.ranAfter), else we start after. */
    prepare: (pod: PodCommands, signal: AbortSignal, start: { line: string; stdin: Buffer } | undefined) => Promise<SyncResult | undefined>,
  ): RunHandle {
    const jobId = newJobId();
    const abort = linkedAbort(spec.signal);
    let resolveFirst!: (ms: number | undefined) => void;
    const firstByte = new Promise<number | undefined>((r) => (resolveFirst = r));
    const podCommands = this.options.commands(podId);
    podCommands.catch(() => undefined);

    // 1. The follower first: it waits in the pod for the job directory.
    const followSink = {
      onData: (chunk: Buffer, offset: number) => {
        resolveFirst(performance.now() - t0);
        return spec.onData?.(chunk, offset);
      },
      onReconnect: spec.onReconnect,
    };
    const stream = this.openStream(podId, jobId, 0, { ...followSink, signal: abort.signal });
    // 2. Sync, then 3. start — in the sync's exec when it can (one exec fewer), else on its own;
    // warm (the pod's fork server forks the job) when it can, else cold, in that same exec.
    const warmRun: Omit<WarmRun, 'preload'> | undefined =
      recipe && this.warm && recipe.launcher?.kind !== 'torchrun'
        ? { python: deps?.python ?? recipe.python, script: plan.script, args: recipe.args, cwd: plan.cwd, env: spec.env ?? {} }
        : undefined;
    const warm = warmRun ? this.warm?.launchFor(warmRun) : undefined;
    const startSpec: StartJobSpec = {
      command: plan.command,
      cwd: plan.cwd,
      env: spec.env,
      name: plan.name,
      id: jobId,
      jobsRoot: this.options.jobsRoot,
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
      this.track(podId, info, recipe);
      return info;
    });
    const startMode = started.then(
      () => mode,
      () => undefined,
    );
    // After a cold start for want of a fork server, start one for the next run (a connection of
    // its own, in the background).
    const forkServer = startMode.then((m) =>
      warmRun && this.warm ? this.warm.afterStart(() => this.options.commands(podId), m, warmRun) : undefined,
    );
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
          return this.openStream(podId, jobId, stream.offset, { ...followSink, signal: stream.signal }).done;
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

  /** Follow a job's log from an offset, into `onData`. */
  openLog(podId: string, jobId: string, options: OpenLogOptions): LogStream {
    const from = options.from ?? 0;
    if (typeof from === 'number') return this.openStream(podId, jobId, from, options);
    if (from === 'stored') return this.openStream(podId, jobId, this.storedOffset(podId, jobId) ?? 0, options);
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
      this.storeOffset(podId, jobId, forget ? undefined : offset),
    );
    this.streams.add(s);
    this.storeOffset(podId, jobId, fromOffset);
    const run = (async () => {
      const pod = await this.options.commands(podId);
      return followLog(pod, jobId, {
        fromOffset,
        jobsRoot: this.options.jobsRoot,
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
        this.track(podId, r.job);
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

  private storedOffset(podId: string, jobId: string): number | undefined {
    return this.options.store?.get<Record<string, number>>(STREAMS_KEY)?.[jobKey(podId, jobId)];
  }

  private storeOffset(podId: string, jobId: string, offset: number | undefined): void {
    const store = this.options.store;
    if (!store) return;
    const all = { ...(store.get<Record<string, number>>(STREAMS_KEY) ?? {}) };
    const k = jobKey(podId, jobId);
    if (offset === undefined) {
      if (!(k in all)) return;
      delete all[k];
    } else {
      if (all[k] === offset) return;
      all[k] = offset;
    }
    void store.update(STREAMS_KEY, all);
  }

  private storeRecipe(podId: string, jobId: string, recipe: StoredRecipe): void {
    const store = this.options.store;
    if (!store) return;
    const all = { ...(store.get<Record<string, StoredRecipe>>(RECIPES_KEY) ?? {}) };
    all[jobKey(podId, jobId)] = recipe;
    const keys = Object.keys(all);
    // Job ids sort by start time: keep the newest.
    if (keys.length > MAX_RECIPES)
      for (const k of keys.sort((a, b) => (a.split('/')[1] < b.split('/')[1] ? -1 : 1)).slice(0, keys.length - MAX_RECIPES)) delete all[k];
    void store.update(RECIPES_KEY, all);
  }

  private track(podId: string, info: JobInfo, recipe?: StoredRecipe): void {
    let m = this.byPod.get(podId);
    if (!m) this.byPod.set(podId, (m = new Map()));
    const known = m.get(info.id);
    if (recipe) this.storeRecipe(podId, info.id, recipe);
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

  /** Stop a job: SIGTERM to its process group, SIGKILL after `graceMs`. Resolves with its end. */
  async stop(podId: string, jobId: string, options: { graceMs?: number; signal?: AbortSignal } = {}): Promise<JobInfo> {
    const pod = await this.options.commands(podId);
    const info = await stopJob(pod, jobId, { jobsRoot: this.options.jobsRoot, graceMs: options.graceMs, signal: options.signal });
    this.track(podId, info);
    return info;
  }

  /** The pod ended: its running jobs end with it (out of memory when it was evicted for OOM). */
  podEnded(podId: string, endReason: string): TrackedJob[] {
    const ended: TrackedJob[] = [];
    for (const job of this.byPod.get(podId)?.values() ?? []) {
      if (isJobEnded(job.info.status)) continue;
      const previous = job.info.status;
      job.info = { ...job.info, status: statusAfterPodEnded(previous, endReason) };
      job.podEndReason = endReason;
      ended.push(job);
      this.endEmitter.fire({ job, previous });
    }
    for (const s of [...this.streams]) if (s.podId === podId) s.abort();
    if (ended.length) this.changeEmitter.fire(podId);
    return ended;
  }

  /** Forget a pod's jobs (it was cleared from the view). */
  forgetPod(podId: string): void {
    if (this.byPod.delete(podId)) this.changeEmitter.fire(podId);
  }

  /** Refresh the pods with running jobs that no open log follows. A pod whose refresh fails (not
   *  reachable, the key's passphrase cancelled) is tried again after 2, 4, 8… × pollMs (at most
   *  5 min), not at every tick; the others keep the cadence. */
  private async poll(): Promise<void> {
    if (this.polling || this.disposed) return;
    this.polling = true;
    try {
      const pods = new Set<string>();
      for (const j of this.runningJobs()) if (!this.isStreaming(j.podId, j.info.id)) pods.add(j.podId);
      const now = Date.now();
      for (const p of this.backoff.keys()) if (!pods.has(p)) this.backoff.delete(p);
      await Promise.all(
        [...pods]
          .filter((p) => (this.backoff.get(p)?.nextAt ?? 0) <= now)
          .map((p) =>
            this.refresh(p).then(
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

  /** Stops every stream (their offsets stay stored, for the next instance) and the polling. */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const s of [...this.streams]) s.abort();
    this.streams.clear();
    this.changeEmitter.dispose();
    this.endEmitter.dispose();
  }
}

class StreamImpl implements LogStream {
  private readonly controller: AbortController;
  private current: number;
  private finished = false;
  closedByUser = false;
  done!: Promise<FollowLogResult>;
  private lastSave = 0;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly podId: string,
    readonly jobId: string,
    fromOffset: number,
    signal: AbortSignal | undefined,
    private readonly save: (offset: number, forget: boolean) => void,
  ) {
    this.controller = linkedAbort(signal);
    this.current = fromOffset;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get offset(): number {
    return this.current;
  }

  /** A chunk ending at `offset` was handed to the consumer: remember it (throttled writes). */
  delivered(offset: number): void {
    this.current = offset;
    const now = Date.now();
    if (now - this.lastSave >= 250) {
      this.lastSave = now;
      this.save(offset, false);
    } else if (!this.saveTimer) {
      this.saveTimer = setTimeout(() => {
        this.saveTimer = undefined;
        if (this.finished) return;
        this.lastSave = Date.now();
        this.save(this.current, false);
      }, 250);
      this.saveTimer.unref?.();
    }
  }

  finish(forget: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.save(this.current, forget);
  }

  /** Stop following, keeping the offset stored (a reload). */
  abort(): void {
    this.controller.abort();
  }

  close(): void {
    this.closedByUser = true;
    this.controller.abort();
  }
}

/** A stream whose start offset is known only after a round trip ('end'). */
class DeferredStream implements LogStream {
  private inner: LogStream | undefined;
  private closed = false;
  readonly done: Promise<FollowLogResult>;

  constructor(
    readonly podId: string,
    readonly jobId: string,
    offset: Promise<number>,
    open: (offset: number) => LogStream,
  ) {
    this.done = offset.then((o) => {
      if (this.closed) throw new SshAbortedError('Following the job log');
      this.inner = open(o);
      return this.inner.done;
    });
    this.done.catch(() => undefined);
  }

  get offset(): number {
    return this.inner?.offset ?? 0;
  }

  close(): void {
    this.closed = true;
    this.inner?.close();
  }
}

/**
 * Detached jobs in a pod: start (returns in milliseconds, the job outlives the connection, the
 * editor and our process), list, status and stop. The pod-side scripts are in job-wrapper.ts; the
 * job's state lives in files under `<jobsRoot>/<jobId>/` so any later connection can read it.
 */
import { randomBytes } from 'node:crypto';
import type { PodCommands } from '../ssh/pod-commands';
import { quote, quoteArgv } from '../util/shell-quote';
import { KgpuError } from '../util/kgpu-error';
import { LIST_SCRIPT, START_SCRIPT, STATUS_SCRIPT, STOP_SCRIPT, WRAPPER_SCRIPT, startScript } from './job-wrapper';
import type { JobInfo, JobStatus } from './job-status';

export const DEFAULT_JOBS_ROOT = '/workspace/.kgpu/jobs';

export { describeJobStatus, isJobEnded, statusAfterPodEnded, type JobInfo, type JobStatus } from './job-status';

export interface JobsLocation {
  /** Where job directories live in the pod (default /workspace/.kgpu/jobs). */
  jobsRoot?: string;
}

export interface StartJobSpec extends JobsLocation {
  /** A shell command line (run by `sh -c` in cwd) … */
  command?: string;
  /** … or an argv, quoted for you. Exactly one of command/argv. */
  argv?: readonly string[];
  /** Working directory in the pod (default /workspace). Must exist. */
  cwd?: string;
  /** Extra environment. PYTHONUNBUFFERED=1 is added unless you set it, so `print` reaches the
   *  log line by line as it would on a terminal. */
  env?: Record<string, string>;
  /** A label for the UI (default: the command, shortened). */
  name?: string;
  /** The job id to use (from newJobId()), so a follower can be opened before startJob resolves. */
  id?: string;
  /** Shell code that launches the wrapper instead of the plain detached start (see startScript in
   *  job-wrapper.ts) — a warm start's (src/kgpu/warm/). */
  launch?: string;
  signal?: AbortSignal;
}

/** The jobs layer's errors (util/kgpu-error.ts). */
export class JobError extends KgpuError {
  constructor(message: string, options?: { cause?: unknown }, kind = 'job_failed') {
    super('jobs', kind, message, options);
  }
}

export class JobNotFoundError extends JobError {
  constructor(readonly jobId: string) {
    super(
      `There is no job ${jobId} in this pod. It may have been started on a different pod (pod disks are not kept when a rental ends); refresh the job list.`,
      undefined,
      'job_not_found',
    );
  }
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A new job id: UTC time to the millisecond, then randomness — ids sort by start time. */
export function newJobId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-11-23T08:40:01.123Z
  const stamp = iso.slice(0, 10).replace(/-/g, '') + '-' + iso.slice(11, 19).replace(/:/g, '') + '-' + iso.slice(20, 23);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function assertJobId(id: string): void {
  if (!ID_RE.test(id)) throw new JobError(`"${id}" is not a kgpu job id.`);
}

function root(loc: JobsLocation | undefined): string {
  return loc?.jobsRoot ?? DEFAULT_JOBS_ROOT;
}

/** The pod command line that launches a job, what to send on its stdin (the environment: values
 *  never go into the command line), and the JobInfo it will have. Exit codes of the command: 0
 *  launched, 3 no such working directory, 4 the id exists already, 5 cannot write, 6 bad stdin. */
export function prepareStart(spec: StartJobSpec): { line: string; stdin: Buffer; info: JobInfo } {
  if ((spec.command === undefined) === (spec.argv === undefined)) throw new JobError('Give a job either a command line or an argv.');
  const command = spec.command ?? quoteArgv(spec.argv ?? []);
  if (command.trim() === '') throw new JobError('The job has an empty command.');
  if (command.includes('\0')) throw new JobError('A job command cannot contain a NUL character.');
  const cwd = spec.cwd ?? '/workspace';
  const env: Record<string, string> = { PYTHONUNBUFFERED: '1', ...spec.env };
  const exports: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME_RE.test(k)) throw new JobError(`"${k}" is not a valid environment variable name.`);
    if (k.startsWith('kgpu_')) throw new JobError(`"${k}": names starting with kgpu_ are the start command's own; rename it.`);
    if (v.includes('\0')) throw new JobError(`The value of ${k} contains a NUL character.`);
    exports.push(`export ${k}=${quote(v)}\n`);
  }
  const id = spec.id ?? newJobId();
  assertJobId(id);
  const createdAt = Date.now();
  const name = spec.name ?? (command.length > 60 ? command.slice(0, 57) + '...' : command);
  const meta = JSON.stringify({ id, name, command, cwd, createdAt });
  const line = quoteArgv([
    'sh',
    '-c',
    spec.launch ? startScript(spec.launch) : START_SCRIPT,
    'kgpu-start',
    root(spec),
    id,
    meta,
    cwd,
    command,
    WRAPPER_SCRIPT,
  ]);
  return {
    line,
    stdin: Buffer.from(exports.join(''), 'utf8'),
    info: { id, name, command, cwd, createdAt, status: { state: 'running' }, logSize: 0 },
  };
}

/** The error for a failed start command. */
export function startError(exitCode: number | null, signal: string | null, stderr: string): JobError {
  const why = stderr.trim() || `exit ${exitCode ?? signal}`;
  const next = exitCode === 3 ? ' Sync the folder first or choose an existing directory.' : '';
  return new JobError(`Could not start the job in the pod: ${why}.${next}`);
}

/** Start a detached job. Resolves as soon as it is launched (one short SSH exec). */
export async function startJob(pod: PodCommands, spec: StartJobSpec): Promise<JobInfo> {
  const { line, stdin, info } = prepareStart(spec);
  const r = await pod.exec(line, { signal: spec.signal, stdin });
  if (r.exitCode !== 0) throw startError(r.exitCode, r.signal, r.stderr.toString('utf8'));
  return info;
}

/** Every job in the pod, oldest first, in one round trip. */
export async function listJobs(pod: PodCommands, options: JobsLocation & { signal?: AbortSignal } = {}): Promise<JobInfo[]> {
  const r = await pod.exec(quoteArgv(['sh', '-c', LIST_SCRIPT, 'kgpu-list', root(options)]), { signal: options.signal });
  if (r.exitCode !== 0) throw new JobError(`Listing jobs in the pod failed: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode}`}`);
  const jobs: JobInfo[] = [];
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const job = parseJobLine(line);
    if (job) jobs.push(job);
  }
  return jobs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export async function jobStatus(pod: PodCommands, jobId: string, options: JobsLocation & { signal?: AbortSignal } = {}): Promise<JobInfo> {
  assertJobId(jobId);
  const r = await pod.exec(quoteArgv(['sh', '-c', STATUS_SCRIPT, 'kgpu-status', root(options), jobId]), { signal: options.signal });
  return statusFromResult(jobId, r.exitCode, r.stdout, r.stderr);
}

/**
 * Stop a job: SIGTERM to its whole process group, SIGKILL to whatever is left after `graceMs`
 * (default 5 000). Resolves with the final status once the job has ended (one SSH exec, which
 * lasts at most the grace period plus a few seconds). Stopping an ended job is a no-op.
 */
export async function stopJob(
  pod: PodCommands,
  jobId: string,
  options: JobsLocation & { graceMs?: number; signal?: AbortSignal } = {},
): Promise<JobInfo> {
  assertJobId(jobId);
  const grace = Math.max(0, Math.round(options.graceMs ?? 5000));
  const r = await pod.exec(quoteArgv(['sh', '-c', STOP_SCRIPT, 'kgpu-stop', root(options), jobId, String(grace)]), {
    signal: options.signal,
  });
  return statusFromResult(jobId, r.exitCode, r.stdout, r.stderr);
}

function statusFromResult(jobId: string, exitCode: number | null, stdout: Buffer, stderr: Buffer): JobInfo {
  if (exitCode === 3) throw new JobNotFoundError(jobId);
  const job = parseJobLine(stdout.toString('utf8').trim());
  if (exitCode !== 0 || !job)
    throw new JobError(`Reading job ${jobId} in the pod failed: ${stderr.toString('utf8').trim() || `exit ${exitCode}`}`);
  return job;
}

interface RawJobLine {
  id: string;
  alive: boolean;
  log_size: number;
  wpid: string;
  pid: string;
  started_at: string;
  ended_at: string;
  exit_code: string;
  signal: string;
  oom: string;
  stop_requested: string;
  meta: { id?: unknown; name?: unknown; command?: unknown; cwd?: unknown; createdAt?: unknown } | null;
}

const num = (s: string): number | undefined => (/^\d+$/.test(s) ? Number(s) : undefined);

/** Parse one status line printed by the pod-side `emit`. Undefined for anything else. */
export function parseJobLine(line: string): JobInfo | undefined {
  if (!line.startsWith('{')) return undefined;
  let raw: RawJobLine;
  try {
    raw = JSON.parse(line) as RawJobLine;
  } catch {
    return undefined;
  }
  if (typeof raw.id !== 'string' || !ID_RE.test(raw.id)) return undefined;
  const meta = raw.meta ?? {};
  const command = typeof meta.command === 'string' ? meta.command : '';
  return {
    id: raw.id,
    name: typeof meta.name === 'string' ? meta.name : raw.id,
    command,
    cwd: typeof meta.cwd === 'string' ? meta.cwd : '',
    createdAt: typeof meta.createdAt === 'number' ? meta.createdAt : 0,
    startedAt: num(raw.started_at),
    endedAt: num(raw.ended_at),
    pid: num(raw.pid),
    logSize: typeof raw.log_size === 'number' ? raw.log_size : 0,
    status: deriveStatus(raw),
  };
}

function deriveStatus(raw: RawJobLine): JobStatus {
  const code = num(raw.exit_code);
  const sig = raw.signal ? 'SIG' + raw.signal.replace(/^SIG/, '') : '';
  const oomKills = num(raw.oom) ?? 0;
  const stoppedByUser = raw.stop_requested !== '';
  if (sig) {
    if (oomKills > 0 && !stoppedByUser) return { state: 'oom', evidence: 'cgroup-oom-kill', signal: sig };
    return { state: 'killed', signal: sig, stoppedByUser, possiblyOom: sig === 'SIGKILL' && !stoppedByUser };
  }
  if (code !== undefined) {
    if (oomKills > 0 && !stoppedByUser) return { state: 'oom', evidence: 'cgroup-oom-kill' };
    return { state: 'exited', exitCode: code };
  }
  // No end marker: running while the wrapper lives (or before it has written its pid).
  if (raw.alive || raw.wpid === '') return { state: 'running' };
  return { state: 'lost', reason: 'the job wrapper disappeared without recording an end (the pod restarted or it was killed)' };
}

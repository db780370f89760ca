/**
 * Follow a detached job's log by byte offset. The pod side (FOLLOW_SCRIPT) waits for the job to
 * appear, streams the log from the offset with `tail -c +N -f --pid=<wrapper>` and ends once the
 * job has ended and the log is drained, then reports the job's status. Here we count the bytes we
 * hand to `onData`; when the connection drops we reconnect and ask for the log from exactly that
 * offset, so nothing is lost or repeated. Memory stays bounded: chunks are passed on as they come
 * and the next one is not read until `onData` (if it returns a promise) has resolved.
 */
import { drained, type PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import { FOLLOW_SCRIPT } from './job-wrapper';
import {
  assertJobId,
  DEFAULT_JOBS_ROOT,
  JobError,
  JobNotFoundError,
  parseJobLine,
  prepareStart,
  startError,
  type JobInfo,
  type JobsLocation,
  type StartJobSpec,
} from './jobs';
import { SshAbortedError } from '../ssh/ssh-errors';
import { backoffReconnectPolicy, waitToRetry, type ReconnectPolicy } from '../ssh/reconnect-policy';

export interface FollowLogOptions extends JobsLocation {
  /** Byte offset to start from (default 0). */
  fromOffset?: number;
  signal?: AbortSignal;
  /** Called with each chunk in order; `offset` is the log offset just after the chunk. Return a
   *  promise to hold the stream until you have dealt with the chunk (backpressure). */
  onData(chunk: Buffer, offset: number): void | Promise<void>;
  /** Called before each reconnect after a dropped connection, with the offset it resumes from. */
  onReconnect?(info: { attempt: number; offset: number; error: Error }): void;
  /** Reconnect attempts in a row without receiving anything before giving up (default 8)… */
  maxReconnects?: number;
  /** …and only once the connection has been failing for this long (default 120 000 ms): an
   *  outage that fails fast (network down, the bastion restarting) is waited out, at most one
   *  attempt per 2 s (the policy's cap), rather than ending the follow after 8 quick failures (~7 s). Only once the
   *  job is known started: a start still fails after `maxReconnects`. */
  maxOutageMs?: number;
  /** The pod session's retry policy: which errors are retried and the wait between attempts. */
  reconnect?: ReconnectPolicy;
}

const DEFAULT_RECONNECT = backoffReconnectPolicy();

export interface FollowLogResult {
  /** The job's final status (the follow ends when the job has ended and its log is drained). */
  job: JobInfo;
  /** The log offset reached (= the log's size at the end). */
  offset: number;
  /** Connections re-opened after drops. */
  reconnects: number;
}

const STATUS_PREFIX = 'KGPU-JOB ';
const MAX_STDERR = 64 * 1024;

/** Stream a job's log from `fromOffset` until the job has ended and the log is drained. */
export function followLog(pod: PodCommands, jobId: string, options: FollowLogOptions): Promise<FollowLogResult> {
  return follow(pod, jobId, options, undefined);
}

const STARTED_MARK = 'KGPU-STARTED';

interface StartFirst {
  /** The start command; on success it prints STARTED_MARK on stderr and execs the follower. */
  line: string;
  /** What the start command reads on stdin (the job's environment), then EOF. */
  stdin: Buffer;
  started(): void;
  failed(e: Error): void;
}

async function follow(pod: PodCommands, jobId: string, options: FollowLogOptions, start: StartFirst | undefined): Promise<FollowLogResult> {
  assertJobId(jobId);
  const jobsRoot = options.jobsRoot ?? DEFAULT_JOBS_ROOT;
  const maxReconnects = options.maxReconnects ?? 8;
  const maxOutageMs = options.maxOutageMs ?? 120_000;
  let failingSince: number | undefined;
  const { signal } = options;
  let offset = Math.max(0, Math.floor(options.fromOffset ?? 0));
  let reconnects = 0;
  let failuresInARow = 0;
  let started = start === undefined;
  const markStarted = (): void => {
    if (started) return;
    started = true;
    start?.started();
  };

  for (;;) {
    if (signal?.aborted) throw new SshAbortedError('Following the job log');
    const startOffset = offset;
    let stderr = '';
    const followLine = quoteArgv(['sh', '-c', FOLLOW_SCRIPT, 'kgpu-follow', jobsRoot, jobId, String(offset)]);
    // Until we know the job was launched, (re)send the start: it is idempotent by job id (a
    // second launch of the same id fails with exit 4, "exists", and nothing runs twice).
    const line = !started && start ? `${start.line} && { printf '${STARTED_MARK}\n' >&2; exec ${followLine}; }` : followLine;
    try {
      // The start reads the job's environment from stdin (never from its command line).
      const s = await pod.execStream(line, { signal, ...(!started && start ? { stdin: start.stdin } : {}) });
      s.stderr.on('data', (b: Buffer) => {
        if (stderr.length < MAX_STDERR) stderr += b.toString('utf8');
        if (!started && stderr.includes(STARTED_MARK)) markStarted();
      });
      // Keep the exit status promise from rejecting unobserved while we read.
      s.done.catch(() => undefined);
      try {
        for await (const chunk of s.stdout as AsyncIterable<Buffer>) {
          offset += chunk.length;
          await options.onData(chunk, offset);
        }
      } catch (e) {
        // A dropped connection shows as a premature close; the exit status below says why.
        if (!(e instanceof Error && 'code' in e && e.code === 'ERR_STREAM_PREMATURE_CLOSE')) {
          s.close();
          throw e;
        }
      }
      const [status] = await Promise.all([s.done, drained(s.stderr)]);
      if (!started) {
        if (status.exitCode === 4) {
          markStarted(); // launched by an earlier attempt whose reply was lost
          continue;
        }
        const err = startError(status.exitCode, status.signal, stderr);
        start?.failed(err);
        throw err;
      }
      if (status.exitCode === 3) throw new JobNotFoundError(jobId);
      const statusLine = stderr.split('\n').find((l) => l.startsWith(STATUS_PREFIX));
      const job = statusLine ? parseJobLine(statusLine.slice(STATUS_PREFIX.length)) : undefined;
      if (status.exitCode !== 0 || !job) {
        throw new JobError(
          `Following the log of job ${jobId} failed: ${stderr.replace(STARTED_MARK, '').trim() || `exit ${status.exitCode ?? status.signal}`}`,
        );
      }
      markStarted();
      return { job, offset, reconnects };
    } catch (e) {
      if (signal?.aborted) {
        const err = e instanceof SshAbortedError ? e : new SshAbortedError('Following the job log');
        if (!started) start?.failed(err);
        throw err;
      }
      if (!(options.reconnect ?? DEFAULT_RECONNECT).isTransient(e)) {
        if (!started && e instanceof Error) start?.failed(e);
        throw e;
      }
      if (offset > startOffset) failingSince = undefined;
      failuresInARow = offset > startOffset ? 1 : failuresInARow + 1;
      failingSince ??= Date.now();
      // Before the job is known started, fail after the attempts (the user waits on the start).
      if (failuresInARow > maxReconnects && (!started || Date.now() - failingSince >= maxOutageMs)) {
        if (!started) start?.failed(e);
        throw e;
      }
      reconnects++;
      options.onReconnect?.({ attempt: failuresInARow, offset, error: e });
      await waitToRetry(options.reconnect ?? DEFAULT_RECONNECT, failuresInARow, signal, 'Following the job log');
    }
  }
}

export interface StartedAndFollowed {
  id: string;
  /** Resolves when the job is launched (milliseconds). */
  started: Promise<JobInfo>;
  /** Resolves when the job has ended and its log is drained; rejects if the start failed. */
  followed: Promise<FollowLogResult>;
}

/**
 * The fast path for "run": ONE exec launches the job and then streams its log (the same channel
 * goes on as the follower), so the first log line costs one connection, not two round trips.
 * After a dropped connection it resumes as followLog does (re-sending the start only if the
 * launch was never confirmed — safe, a job id launches once).
 */
export function startAndFollow(pod: PodCommands, spec: StartJobSpec, followOptions: FollowLogOptions): StartedAndFollowed {
  const jobsRoot = spec.jobsRoot ?? followOptions.jobsRoot;
  let prepared: ReturnType<typeof prepareStart>;
  try {
    prepared = prepareStart({ ...spec, jobsRoot });
  } catch (e) {
    const failed = Promise.reject(e as Error);
    failed.catch(() => undefined);
    return { id: spec.id ?? '', started: failed, followed: failed };
  }
  const { line, stdin, info } = prepared;
  let resolveStarted!: (j: JobInfo) => void;
  let rejectStarted!: (e: Error) => void;
  const started = new Promise<JobInfo>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  started.catch(() => undefined);
  const followed = follow(
    pod,
    info.id,
    { ...followOptions, jobsRoot, signal: followOptions.signal ?? spec.signal },
    {
      line,
      stdin,
      started: () => resolveStarted(info),
      failed: (e) => rejectStarted(e),
    },
  );
  return { id: info.id, started, followed };
}

/**
 * Follow a detached job's log by byte offset. The pod side (FOLLOW_SCRIPT) waits for the job to
 * appear, streams the log from the offset with `tail -c +N -f --pid=<wrapper>` and ends once the
 * job has ended and the log is drained, then reports the job's status. Here we count the bytes we
 * hand to `onData`; when the connection drops we reconnect and ask for the log from exactly that
 * offset, so nothing is lost or repeated. Memory stays bounded: chunks are passed on as they come
 * and the next one is not read until `onData` (if it returns a promise) has resolved.
 */
import type { PodCommands } from './pod-commands';
import { quoteArgv } from './shell-quote';
import { FOLLOW_SCRIPT } from './job-wrapper';
import { assertJobId, DEFAULT_JOBS_ROOT, JobError, JobNotFoundError, newJobId, parseJobLine, startJob, type JobInfo, type JobsLocation, type StartJobSpec } from './jobs';
import { BastionUnreachableError, ChannelRefusedError, ConnectionLostError, SshAbortedError } from './ssh-errors';

export interface FollowLogOptions extends JobsLocation {
  /** Byte offset to start from (default 0). */
  fromOffset?: number;
  signal?: AbortSignal;
  /** Called with each chunk in order; `offset` is the log offset just after the chunk. Return a
   *  promise to hold the stream until you have dealt with the chunk (backpressure). */
  onData(chunk: Buffer, offset: number): void | Promise<void>;
  /** Called before each reconnect after a dropped connection, with the offset it resumes from. */
  onReconnect?(info: { attempt: number; offset: number; error: Error }): void;
  /** Reconnect attempts in a row without receiving anything before giving up (default 8). */
  maxReconnects?: number;
}

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

function retryable(e: unknown): e is Error {
  return e instanceof ConnectionLostError || e instanceof BastionUnreachableError || e instanceof ChannelRefusedError;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new SshAbortedError('Following the job log'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new SshAbortedError('Following the job log'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Stream a job's log from `fromOffset` until the job has ended and the log is drained. */
export async function followLog(pod: PodCommands, jobId: string, options: FollowLogOptions): Promise<FollowLogResult> {
  assertJobId(jobId);
  const jobsRoot = options.jobsRoot ?? DEFAULT_JOBS_ROOT;
  const maxReconnects = options.maxReconnects ?? 8;
  const { signal } = options;
  let offset = Math.max(0, Math.floor(options.fromOffset ?? 0));
  let reconnects = 0;
  let failuresInARow = 0;

  for (;;) {
    if (signal?.aborted) throw new SshAbortedError('Following the job log');
    const startOffset = offset;
    let stderr = '';
    try {
      const s = await pod.execStream(quoteArgv(['sh', '-c', FOLLOW_SCRIPT, 'kgpu-follow', jobsRoot, jobId, String(offset)]), { signal });
      s.stderr.on('data', (b: Buffer) => {
        if (stderr.length < MAX_STDERR) stderr += b.toString('utf8');
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
      const status = await s.done;
      if (status.exitCode === 3) throw new JobNotFoundError(jobId);
      const line = stderr.split('\n').find((l) => l.startsWith(STATUS_PREFIX));
      const job = line ? parseJobLine(line.slice(STATUS_PREFIX.length)) : undefined;
      if (status.exitCode !== 0 || !job) {
        throw new JobError(`Following the log of job ${jobId} failed: ${stderr.trim() || `exit ${status.exitCode ?? status.signal}`}`);
      }
      return { job, offset, reconnects };
    } catch (e) {
      if (signal?.aborted) throw e instanceof SshAbortedError ? e : new SshAbortedError('Following the job log');
      if (!retryable(e)) throw e;
      failuresInARow = offset > startOffset ? 1 : failuresInARow + 1;
      if (failuresInARow > maxReconnects) throw e;
      reconnects++;
      options.onReconnect?.({ attempt: failuresInARow, offset, error: e });
      await delay(Math.min(2000, 50 * 2 ** (failuresInARow - 1)), signal);
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
 * The fast path for "run": launch the job and open the log follower at the same time, on two
 * connections (the follower waits for the job to appear), so the first log line is not delayed by
 * the start's round trip.
 */
export function startAndFollow(pod: PodCommands, spec: StartJobSpec, follow: FollowLogOptions): StartedAndFollowed {
  const id = spec.id ?? newJobId();
  const startAbort = new AbortController();
  const followSignal = follow.signal ? AbortSignal.any([follow.signal, startAbort.signal]) : startAbort.signal;
  const started = startJob(pod, { ...spec, id, jobsRoot: spec.jobsRoot ?? follow.jobsRoot });
  // If the start fails, stop the follower (which would otherwise wait for a job that never comes).
  started.catch(() => startAbort.abort());
  const following = followLog(pod, id, { ...follow, jobsRoot: follow.jobsRoot ?? spec.jobsRoot, signal: followSignal });
  const followed = following.catch(async (e: unknown) => {
    if (startAbort.signal.aborted) await started; // rethrows the start's error
    throw e;
  });
  return { id, started, followed };
}

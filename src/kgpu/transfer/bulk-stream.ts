/**
 * What bulk-transfer.ts (upload) and bulk-download.ts share: the options and result of a copy, how
 * its command reaches the pod (`BulkStreams`: ssh2 by default, the system's OpenSSH client through
 * bulk-client.ts), reading the pod's answer line before the file bytes, and the retry helpers.
 */
import type { Readable } from 'node:stream';
import type { PodConnector } from '../ssh/ssh-connection';
import { execStream, type ExecStream, type ExitStatus } from '../ssh/ssh-exec';
import { SshError } from '../ssh/ssh-errors';
import { backoffReconnectPolicy, waitToRetry, type ReconnectPolicy } from '../ssh/reconnect-policy';

/** Streamed commands in the pod for a copy. */
export interface BulkStreams {
  open(script: string, signal: AbortSignal | undefined): Promise<ExecStream>;
  /** Stream `s` failed with `error` before the pod answered: return true when the client switched
   *  to another way in, so the caller tries again (the pod ran nothing of the copy yet). */
  fallBack?(s: ExecStream, error: Error): boolean;
}

/** Streamed exec over the connector's ssh2 connections. */
export function ssh2Streams(connector: PodConnector): BulkStreams {
  return { open: (script, signal) => execStream(connector, script, { signal }) };
}

export interface TransferProgress {
  /** Bytes of the file now at the destination (counting bytes kept from before a resume). */
  bytes: number;
  total: number;
}

export interface TransferOptions {
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
  /** Check sha256 on both ends: 'auto' (default) only after a resume, 'always', or 'never'. */
  verify?: 'auto' | 'always' | 'never';
  /** Attempts in a row that make no progress before giving up (default 5). */
  maxStalledAttempts?: number;
  /** The pod session's retry policy: which errors are retried and the wait between attempts. */
  reconnect?: ReconnectPolicy;
  /** How the copy's command reaches the pod (default: ssh2 over the connector; bulk-client.ts
   *  picks the system's OpenSSH client when it can). */
  streams?: BulkStreams;
}

export interface TransferResult {
  bytes: number;
  /** Times the copy was resumed after a dropped connection. */
  resumes: number;
  /** Whether the sha256 of both ends was compared (and matched). */
  verified: boolean;
}

export function isRetryable(e: unknown, options: TransferOptions): boolean {
  return (options.reconnect ?? DEFAULT_RECONNECT).isTransient(e) || e instanceof TransferRetry;
}

export class TransferRetry extends Error {}

const DEFAULT_RECONNECT = backoffReconnectPolicy();

/** The pod session's backoff before the next attempt, `stalled` attempts in a row having made no progress. */
export async function backoff(stalled: number, options: TransferOptions): Promise<void> {
  await waitToRetry(options.reconnect ?? DEFAULT_RECONNECT, stalled + 1, options.signal, 'The transfer');
}

/** The pod's answer line is a number or two: more than this without a newline is not an answer. */
const MAX_ANSWER_LINE_BYTES = 4096;

/** Read a stream up to its first newline, at most `maxBytes` (a pod that never sends a newline is
 *  refused, not buffered); returns the line and what came after it (binary data the caller handles). */
export function readAnswerLine(stdout: Readable, maxBytes = MAX_ANSWER_LINE_BYTES): Promise<{ line: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let acc = Buffer.alloc(0);
    const stop = (): void => {
      stdout.removeListener('data', onData);
      stdout.removeListener('end', onEnd);
      stdout.pause();
    };
    const onData = (b: Buffer): void => {
      acc = Buffer.concat([acc, b]);
      const nl = acc.indexOf(0x0a);
      if (nl >= 0 && nl <= maxBytes) {
        stop();
        resolve({ line: acc.subarray(0, nl).toString('utf8'), rest: acc.subarray(nl + 1) });
      } else if (acc.length > maxBytes) {
        stop();
        reject(
          new SshError(
            `The pod sent no answer line within ${maxBytes} bytes (it starts ${JSON.stringify(acc.subarray(0, 32).toString('latin1'))}); is something in the pod's image replacing standard tools?`,
          ),
        );
      }
    };
    const onEnd = (): void => reject(new TransferRetry('the remote side ended before its header'));
    stdout.on('data', onData);
    stdout.once('end', onEnd);
  });
}

/**
 * Run `script` and read its first line — the pod's answer before any file bytes. When the command
 * ends before answering, a transport error is rethrown as it is (after the streams' client had its
 * chance to fall back to another and try again: the pod ran nothing of the script's copy yet);
 * otherwise `fail` turns the exit status and stderr into the caller's error.
 */
export async function startWithHeader(
  connector: PodConnector,
  options: TransferOptions,
  script: string,
  fail: (status: ExitStatus, stderr: string, cause: Error) => Error,
): Promise<{ s: ExecStream; stderr: () => string; header: { line: string; rest: Buffer } }> {
  const streams = options.streams ?? ssh2Streams(connector);
  for (;;) {
    const s = await streams.open(script, options.signal);
    const stderr = collect(s.stderr);
    s.done.catch(() => undefined);
    try {
      const header = await Promise.race([readAnswerLine(s.stdout), s.done.then(() => Promise.reject(new TransferRetry('no header')))]);
      return { s, stderr, header };
    } catch (e) {
      s.close();
      const status = await s.done.catch((err: Error) => err);
      if (status instanceof Error) {
        if (!options.signal?.aborted && streams.fallBack?.(s, status)) continue;
        throw status;
      }
      throw fail(status, stderr(), e as Error);
    }
  }
}

export function collect(r: NodeJS.ReadableStream): () => string {
  const parts: Buffer[] = [];
  r.on('data', (b: Buffer) => {
    if (parts.length < 64) parts.push(b);
  });
  return () => Buffer.concat(parts).toString('utf8').trim();
}

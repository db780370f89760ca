/**
 * Backoff policy for the kgpu REST client: exponential backoff with full jitter, bounded
 * attempts, `Retry-After` respected. Only idempotent calls (GET, DELETE) are retried — the
 * client decides that; this module only says how long to wait.
 */
import { KgpuAbortedError } from './api-error';
import { delay } from '../util/async';

export interface RetryPolicy {
  /** Total attempts including the first (≥ 1). */
  maxAttempts: number;
  /** Backoff cap of the first retry; doubles each retry. */
  baseDelayMs: number;
  /** No single backoff is longer than this (before Retry-After). */
  maxDelayMs: number;
  /** A server asking to wait longer than this (Retry-After) makes the call fail instead of wait. */
  maxRetryAfterMs: number;
  /** Random source in [0, 1) for jitter (tests may pin it). */
  random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 300,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
  random: Math.random,
};

/** Statuses worth retrying for an idempotent call: 429 and transient 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/**
 * Delay before retry number `retry` (1 = the first retry): full jitter over
 * `min(maxDelay, base × 2^(retry-1))`, but never shorter than the server's Retry-After.
 */
export function backoffDelayMs(policy: RetryPolicy, retry: number, retryAfterMs?: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(policy.random() * cap);
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Wait `ms`, or reject with KgpuAbortedError as soon as `signal` aborts; never leaves a timer behind. */
export function abortableDelay(ms: number, signal?: AbortSignal, what = 'The kgpu request'): Promise<void> {
  return delay(ms, signal, () => new KgpuAbortedError(what, signal?.reason));
}

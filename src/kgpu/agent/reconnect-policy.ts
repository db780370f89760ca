/**
 * How the agent is started again after a drop: a small policy object, so that the owner of a
 * pod's SSH (PodSession, issue 18) can hand every consumer the same one. The default is the REST
 * client's backoff (retry.ts: exponential, full jitter, bounded attempts) applied to the SSH
 * errors that are safe to retry.
 */
import { isTransientSshError } from '../ssh/ssh-errors';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../api/retry';

export interface ReconnectPolicy {
  /** Attempt `attempt` (1-based) failed with `error`: milliseconds to wait before the next, or
   *  undefined to give up and report `error`. */
  retryDelayMs(attempt: number, error: Error): number | undefined;
}

export { isTransientSshError };

/** Exponential backoff with full jitter over transient SSH errors (defaults: 4 attempts, 250 ms doubling, at most 4 s). */
export function backoffReconnectPolicy(
  options: Partial<Pick<RetryPolicy, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>> = {},
): ReconnectPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 4_000, ...options };
  return {
    retryDelayMs: (attempt, error) =>
      attempt < policy.maxAttempts && isTransientSshError(error) ? backoffDelayMs(policy, attempt) : undefined,
  };
}

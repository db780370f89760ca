/**
 * The one SSH retry policy: how every loop that talks to a pod over the bastion waits before trying
 * again after a transient failure — the agent's start, a log follow, a bulk transfer, the pod
 * watcher, a notebook kernel's stream. Each PodSession hands its users the same policy object, so
 * the backoff formula lives here and nowhere else (the REST client's counterpart is api/retry.ts,
 * whose formula it shares: exponential, capped, full jitter).
 *
 * What a loop does between attempts stays its own business (a transfer counts attempts without
 * progress, a log follow waits out an outage once the job is known to run); the policy says which
 * errors are worth another attempt, how long to wait, and when an operation the user waits on
 * gives up.
 */
import { isTransientSshError, SshAbortedError } from './ssh-errors';
import { delay } from '../util/async';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../api/retry';

export interface ReconnectPolicy {
  /** Whether `error` may go away by trying again (a lost connection, an unreachable bastion, a reset). */
  isTransient(error: unknown): error is Error;
  /** Milliseconds to wait after `failures` failures in a row (1-based): exponential, capped, jittered. */
  delayMs(failures: number): number;
  /** Failures in a row after which an operation the user is waiting on gives up. */
  readonly maxAttempts: number;
  /** Failure number `failures` (1-based) with `error`: the wait before the next attempt, or
   *  undefined to give up and report `error` (not transient, or `maxAttempts` reached). */
  retryDelayMs(failures: number, error: unknown): number | undefined;
}

export { isTransientSshError };

export type ReconnectPolicyOptions = Partial<Pick<RetryPolicy, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>>;

/** The default: transient SSH errors, 100 ms doubling to at most 2 s (full jitter), 8 attempts. */
export function backoffReconnectPolicy(options: ReconnectPolicyOptions = {}): ReconnectPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 2_000, ...options };
  const delayMs = (failures: number): number => backoffDelayMs(policy, Math.max(1, failures));
  return {
    isTransient: isTransientSshError,
    delayMs,
    maxAttempts: policy.maxAttempts,
    retryDelayMs: (failures, error) => (failures < policy.maxAttempts && isTransientSshError(error) ? delayMs(failures) : undefined),
  };
}

/** Wait the policy's delay after `failures` failures; rejects with SshAbortedError(`what`) when `signal` aborts. */
export function waitToRetry(policy: ReconnectPolicy, failures: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return delay(policy.delayMs(failures), signal, () => new SshAbortedError(what));
}

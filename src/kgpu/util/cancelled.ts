/**
 * Cancellation, one vocabulary for every layer: the caller's AbortSignal fired. Errors of this
 * kind are never shown as failures and never retried. The REST layer's KgpuAbortedError is a
 * CancelledError; the SSH layer's SshAbortedError (an SshError) carries the same `kind`.
 */
import { KgpuError, type ErrorLayer } from './kgpu-error';

export class CancelledError extends KgpuError {
  override readonly kind = 'cancelled' as const;
  /** The platform's abort code, like an AbortError from fetch or streams. */
  readonly code = 'ABORT_ERR';
  constructor(what: string, reason?: unknown, layer: ErrorLayer = 'core') {
    super(layer, 'cancelled', `${what} was cancelled.`, { cause: reason });
    this.name = 'AbortError';
  }
}

/** Whether `e` says the operation was cancelled: ours (any layer) or the platform's AbortError. */
export function isCancelled(e: unknown): boolean {
  return e instanceof Error && ((e as { kind?: unknown }).kind === 'cancelled' || e.name === 'AbortError');
}

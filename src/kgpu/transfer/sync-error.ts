/** The sync's error and its cancellation check (syncUp, its upload rounds, pull). */
import { SshAbortedError } from '../ssh/ssh-errors';
import { KgpuError } from '../util/kgpu-error';

export class SyncError extends KgpuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('transfer', 'sync_failed', message, options);
  }
}

/** Throws SshAbortedError(`what`) once `signal` has aborted. */
export function aborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new SshAbortedError(what);
}

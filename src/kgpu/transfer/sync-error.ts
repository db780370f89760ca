/** The sync's error and its cancellation check (syncUp, its upload rounds, pull). */
import { SshAbortedError } from '../ssh/ssh-errors';

export class SyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Throws SshAbortedError(`what`) once `signal` has aborted. */
export function aborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new SshAbortedError(what);
}

/**
 * One notification per distinct failure. Polling repeats the same failure every tick (the
 * simulator is down, a 500 on every call): its *signature* — the kind of failure, not the request
 * id that changes each time — is shown once, then suppressed until a success proves the cause
 * went away. A different failure is shown at once.
 */
import { KgpuApiError, KgpuNetworkError, isAbortError } from './api-error';

/** What makes two failures "the same" for the user: status + error code, or the network failure kind. */
export function errorSignature(error: unknown): string {
  if (error instanceof KgpuApiError) {
    // All 5xx look alike to the user; the trace id differs every time.
    return error.status >= 500 ? 'api:5xx' : `api:${error.status}:${error.code}`;
  }
  if (error instanceof KgpuNetworkError) return `net:${error.kind}:${error.apiBase}`;
  if (isAbortError(error)) return 'abort';
  if (error instanceof Error) return `error:${error.name}:${error.message.replace(/\b[0-9a-f]{8,}\b/gi, '#')}`;
  return `other:${String(error)}`;
}

/** The text to show for an error: the client's userMessage when it has one, else the message. */
export function errorMessage(error: unknown): string {
  if (error && typeof error === 'object' && 'userMessage' in error && typeof (error as { userMessage: unknown }).userMessage === 'string') {
    return (error as { userMessage: string }).userMessage;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export class ErrorDeduplicator {
  /** Signatures shown and not yet cleared, per channel (e.g. "refresh"). */
  private readonly shown = new Map<string, Set<string>>();

  /** True when this failure should be shown now (first time since the channel last succeeded). */
  shouldShow(channel: string, error: unknown): boolean {
    if (isAbortError(error)) return false;
    const sig = errorSignature(error);
    let set = this.shown.get(channel);
    if (!set) this.shown.set(channel, (set = new Set()));
    if (set.has(sig)) return false;
    set.add(sig);
    return true;
  }

  /** The channel worked again: the next failure is news. Returns whether anything had been shown. */
  succeeded(channel: string): boolean {
    const had = (this.shown.get(channel)?.size ?? 0) > 0;
    this.shown.delete(channel);
    return had;
  }

  /** Forget everything (sign-in, settings changed). */
  clear(): void {
    this.shown.clear();
  }
}

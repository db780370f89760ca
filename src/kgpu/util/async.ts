/**
 * The async blocks every layer uses: one abortable `delay` (node:timers/promises, so no timer or
 * abort listener outlives it) and one bounded-concurrency loop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError } from './cancelled';

/** Wait `ms`, or reject as soon as `signal` aborts — with `aborted()` (default: a CancelledError). */
export async function delay(
  ms: number,
  signal?: AbortSignal,
  aborted: () => Error = () => new CancelledError('The wait', signal?.reason),
): Promise<void> {
  if (signal?.aborted) throw aborted();
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (e) {
    if (signal?.aborted) throw aborted();
    throw e;
  }
}

/** Run `fn` over `items` with at most `limit` at a time; stops starting new ones after a failure. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
}

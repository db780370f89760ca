/**
 * Wait for a rented pod to become ready, the contract's way: poll `GET /pods/{id}` every 10–15 s
 * only until `ready=true`, then stop (cold start is image load; sub-5 s polling buys nothing).
 */
import { KgpuAbortedError, KgpuApiError } from './api-error';
import type { CallOptions } from './api-client';
import type { EndReason, Pod, PodPhase } from './api-types';
import { describeEndReason } from '../model/end-reason';
import { abortableDelay } from './retry';
import { KgpuError } from '../util/kgpu-error';

/** The contract's cadence: never poll faster than this by default. */
export const DEFAULT_POLL_FLOOR_MS = 10_000;

export interface WaitProgress {
  podId: string;
  phase: PodPhase;
  ready: boolean;
  pendingReason: string | null;
  /** How many polls so far (1 = the first answer). */
  polls: number;
  elapsedMs: number;
  pod: Pod;
}

export interface WaitUntilReadyOptions {
  signal?: AbortSignal;
  /** Called after every poll with what the pod is doing. */
  onProgress?: (progress: WaitProgress) => void;
  /** Poll interval, default 10 s; never below `pollFloorMs`. */
  intervalMs?: number;
  /** Lower bound of the interval, default 10 s (the contract's). Tests lower it; the UI never does. */
  pollFloorMs?: number;
  /** Give up after this long (default: never — a pod stuck Pending is auto-released by kgpu after ~5 min). */
  timeoutMs?: number;
  /** Reject after this many polls in a row failed (after the client's own retries), default 3. */
  maxConsecutiveErrors?: number;
}

/** The pod ended (or failed) instead of becoming ready. */
export class PodEndedError extends KgpuError {
  readonly label: string;
  readonly nextAction: string;
  constructor(
    readonly podId: string,
    readonly phase: PodPhase,
    readonly endReason: EndReason | null,
    readonly pod: Pod,
  ) {
    const d = describeEndReason(endReason);
    super('api', 'pod_ended', `Pod ${podId} will not become ready — ${d.label}. ${d.nextAction}`);
    this.name = 'PodEndedError';
    this.label = d.label;
    this.nextAction = d.nextAction;
  }
}

/** The pod was still not ready after `timeoutMs`. */
export class WaitTimeoutError extends KgpuError {
  constructor(
    readonly podId: string,
    readonly lastPod: Pod | undefined,
    timeoutMs: number,
  ) {
    const where = lastPod ? `${lastPod.phase}${lastPod.pending_reason ? ` (${lastPod.pending_reason})` : ''}` : 'unknown';
    super(
      'api',
      'wait_timeout',
      `Pod ${podId} is still not ready after ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`} — it is ${where}. Check the image name, or release it and rent again.`,
    );
    this.name = 'WaitTimeoutError';
  }
}

/** The interval waitUntilReady polls at: `intervalMs` (default 10 s), never below `pollFloorMs` (default 10 s). */
export function pollIntervalMs(options: Pick<WaitUntilReadyOptions, 'intervalMs' | 'pollFloorMs'> = {}): number {
  const floor = options.pollFloorMs ?? DEFAULT_POLL_FLOOR_MS;
  return Math.max(options.intervalMs ?? DEFAULT_POLL_FLOOR_MS, floor);
}

export interface PodReader {
  getPod(podId: string, o?: CallOptions): Promise<Pod>;
}

/**
 * Resolve with the pod once `phase` is Running and `ready` is true; reject with PodEndedError on
 * Terminating/Ended/Failed, with KgpuAbortedError (name "AbortError") when `signal` aborts — at
 * once, leaving no timer behind — and with the client's error after `maxConsecutiveErrors` failed
 * polls in a row (a 404 or 401 rejects at once).
 */
export async function waitUntilReady(client: PodReader, podId: string, options: WaitUntilReadyOptions = {}): Promise<Pod> {
  const interval = pollIntervalMs(options);
  const maxErrors = options.maxConsecutiveErrors ?? 3;
  const signal = options.signal;
  const started = Date.now();
  const what = `Waiting for pod ${podId}`;
  let polls = 0;
  let errors = 0;
  let last: Pod | undefined;
  for (;;) {
    if (signal?.aborted) throw new KgpuAbortedError(what, signal.reason);
    try {
      last = await client.getPod(podId, { signal });
      errors = 0;
    } catch (e) {
      if (e instanceof Error && e.name === 'AbortError') throw new KgpuAbortedError(what, signal?.reason);
      const fatal = e instanceof KgpuApiError && (e.status === 401 || e.status === 403 || e.status === 404);
      if (fatal || ++errors >= maxErrors) throw e;
    }
    if (last && errors === 0) {
      polls++;
      options.onProgress?.({
        podId,
        phase: last.phase,
        ready: last.ready,
        pendingReason: last.pending_reason ?? null,
        polls,
        elapsedMs: Date.now() - started,
        pod: last,
      });
      if (last.phase === 'Running' && last.ready) return last;
      if (last.phase === 'Terminating' || last.phase === 'Ended' || last.phase === 'Failed') {
        throw new PodEndedError(podId, last.phase, last.end_reason ?? null, last);
      }
    }
    if (options.timeoutMs !== undefined && Date.now() - started + interval > options.timeoutMs) {
      throw new WaitTimeoutError(podId, last, options.timeoutMs);
    }
    await abortableDelay(interval, signal, what);
  }
}

/**
 * What a sweep costs (issue 23): before it starts, what its pods bill together per hour (they
 * bill per minute whether they run a job or not); per run, the pod's rate × the job's duration (as
 * the log footer). Both use the pod's own rate (model/cost.ts), what kgpu bills it at.
 */
import type { Pod } from '../api/api-types';
import { podRatePerHour } from '../model/cost';

type Prices = Parameters<typeof podRatePerHour>[1];

/** Credits per hour of the pods together (a pod whose rate is unknown counts 0). */
export function sweepRatePerHour(pods: readonly Pod[], prices?: Prices): number {
  return pods.reduce((s, p) => s + (podRatePerHour(p, prices) ?? 0), 0);
}

/** A run's credits: the rate × its duration. */
export function runCredits(ratePerHour: number, durationMs: number): number {
  return (ratePerHour * durationMs) / 3_600_000;
}

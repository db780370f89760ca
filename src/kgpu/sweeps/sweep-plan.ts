/**
 * A sweep's plan (issue 23) — its runs, their pods, jobs and results — as stored in the workspace
 * state after every change (the last MAX_STORED sweeps), found again after a reload, and forgotten
 * from the view. Sweep (sweep.ts) runs a plan.
 */
import type { KeyValueStore, StoredRecipe } from '../jobs/job-runner';
import type { MetricsFileMark } from './metrics-file';
import type { StoredTransit } from './fanout';
import type { Metrics } from './metrics';

export type SweepRunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'stopped';

export interface SweepRun {
  index: number;
  args: string[];
  state: SweepRunState;
  podId?: string;
  jobId?: string;
  /** How the job ended ("exit code 0", "stopped (SIGTERM)") or why the run failed. */
  end?: string;
  exitCode?: number;
  durationMs?: number;
  credits?: number;
  /** The last value of each metric (printed JSON lines, then the run's metrics.jsonl). */
  metrics: Metrics;
  /** The best value of each metric (the lowest, or the highest for accuracy-like names). */
  best?: Metrics;
  /** The pod's metrics.jsonl before the run started (what the run wrote is read after it). */
  metricsFileMark?: MetricsFileMark;
  /** Re-queued once after its pod ended (the pod and job of that attempt). */
  requeuedFrom?: { podId: string; jobId?: string };
}

export interface SweepPlan {
  id: string;
  name: string;
  createdAt: number;
  /** How every run is launched, less its arguments (no environment: it is read at each start). */
  recipe: Omit<StoredRecipe, 'args'>;
  pods: string[];
  runs: SweepRun[];
  releasePodsWhenDone: boolean;
  state: 'running' | 'done' | 'stopped';
  /** Its large files and their transit objects (sweep-transit.ts), when it has any. */
  transit?: StoredTransit;
}

export function newSweepPlan(o: {
  name: string;
  recipe: Omit<StoredRecipe, 'args'>;
  pods: string[];
  runs: string[][];
  releasePodsWhenDone?: boolean;
  now?: number;
}): SweepPlan {
  if (o.pods.length === 0) throw new Error('A sweep needs at least one ready pod.');
  if (o.runs.length === 0) throw new Error('A sweep needs at least one argument set.');
  const now = o.now ?? Date.now();
  return {
    id: `sweep-${now.toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
    name: o.name,
    createdAt: now,
    recipe: o.recipe,
    pods: [...o.pods],
    runs: o.runs.map((args, index) => ({ index, args: [...args], state: 'queued', metrics: {} })),
    releasePodsWhenDone: !!o.releasePodsWhenDone,
    state: 'running',
  };
}

const STORE_KEY = 'kgpu.sweeps';
const MAX_STORED = 20;

export function storedSweeps(store: KeyValueStore | undefined): SweepPlan[] {
  const all = store?.get<SweepPlan[]>(STORE_KEY);
  return Array.isArray(all) ? all : [];
}

/** Store a sweep's plan (replacing its previous version; the oldest dropped beyond MAX_STORED). */
export function storeSweep(store: KeyValueStore, plan: SweepPlan): void {
  const others = storedSweeps(store).filter((p) => p.id !== plan.id);
  void store.update(STORE_KEY, [...others, plan].slice(-MAX_STORED));
}

/** Forget a stored sweep (the view's "Clear"). */
export function forgetSweep(store: KeyValueStore | undefined, id: string): void {
  if (!store) return;
  void store.update(
    STORE_KEY,
    storedSweeps(store).filter((p) => p.id !== id),
  );
}

/**
 * The runner's records that outlive the window (workspaceState): the offset each open log stream
 * reached (a new runner after a reload resumes exactly there) and the recipe of each job started
 * here (Re-run), less its environment — values are secrets and are never stored.
 */
import type { StoredRecipe } from './run-plan';

/** A VS Code Memento has this shape (workspaceState); tests pass a Map-backed one. */
export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): unknown;
}

const STREAMS_KEY = 'kgpu.jobs.streams';
const RECIPES_KEY = 'kgpu.jobs.recipes';
const MAX_RECIPES = 200;

export function jobKey(podId: string, jobId: string): string {
  return `${podId}/${jobId}`;
}

/** Versions before 0.1.1 stored each recipe's environment, values included: drop them. */
function scrubStoredEnvironments(store: KeyValueStore | undefined): void {
  const all = store?.get<Record<string, StoredRecipe & { env?: unknown }>>(RECIPES_KEY);
  if (!store || !all || !Object.values(all).some((r) => r && typeof r === 'object' && 'env' in r)) return;
  const clean: Record<string, StoredRecipe> = {};
  for (const [k, r] of Object.entries(all)) {
    const { env: _env, ...rest } = r;
    void _env;
    clean[k] = rest;
  }
  void store.update(RECIPES_KEY, clean);
}

/** Offsets and recipes, per pod and job, in the store (none kept without one). */
export class JobRecords {
  constructor(private readonly store: KeyValueStore | undefined) {
    scrubStoredEnvironments(store);
  }

  /** Every stored stream offset, by jobKey(). */
  offsets(): Record<string, number> {
    return this.store?.get<Record<string, number>>(STREAMS_KEY) ?? {};
  }

  /** Every stored recipe, by jobKey(). */
  recipes(): Record<string, StoredRecipe> {
    return this.store?.get<Record<string, StoredRecipe>>(RECIPES_KEY) ?? {};
  }

  storedOffset(podId: string, jobId: string): number | undefined {
    return this.offsets()[jobKey(podId, jobId)];
  }

  /** Remember where a job's stream is (undefined: forget it). */
  storeOffset(podId: string, jobId: string, offset: number | undefined): void {
    const store = this.store;
    if (!store) return;
    const all = { ...(store.get<Record<string, number>>(STREAMS_KEY) ?? {}) };
    const k = jobKey(podId, jobId);
    if (offset === undefined) {
      if (!(k in all)) return;
      delete all[k];
    } else {
      if (all[k] === offset) return;
      all[k] = offset;
    }
    void store.update(STREAMS_KEY, all);
  }

  storeRecipe(podId: string, jobId: string, recipe: StoredRecipe): void {
    const store = this.store;
    if (!store) return;
    const all = { ...(store.get<Record<string, StoredRecipe>>(RECIPES_KEY) ?? {}) };
    all[jobKey(podId, jobId)] = recipe;
    const keys = Object.keys(all);
    // Job ids sort by start time: keep the newest.
    if (keys.length > MAX_RECIPES)
      for (const k of keys.sort((a, b) => (a.split('/')[1] < b.split('/')[1] ? -1 : 1)).slice(0, keys.length - MAX_RECIPES)) delete all[k];
    void store.update(RECIPES_KEY, all);
  }
}

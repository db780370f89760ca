/**
 * The rentals model: the account's pods, `/me` and the public GPU menu as last fetched, plus the
 * pod state changes observed between two refreshes (a pod became ready, got the idle warning,
 * ended — with its end_reason). Plain Node; the editor's views, status bar and notifications all
 * read this one model, so one refresh updates everything and no view polls on its own.
 *
 * `refresh()` calls share one request in flight. A failing part (e.g. `/me` while `/gpu-models`
 * works) keeps its last good value and reports the error through `lastError`/`onDidFail`.
 */
import type { GpuModel, Me, Pod } from '../api/api-types';
import { isLivePod } from '../api/api-types';
import { Emitter, type Disposable } from '../util/emitter';

/** The REST calls the model needs (KgpuClient satisfies it through a thin adapter). */
export interface RentalsApi {
  listPods(): Promise<Pod[]>;
  getPod(podId: string): Promise<Pod>;
  me(): Promise<Me>;
  gpuModels(): Promise<GpuModel[]>;
}

/** What the model is talking to right now: `signedIn` false → only the public GPU menu is fetched. */
export interface RentalsSource {
  api: RentalsApi;
  signedIn: boolean;
}

export type PodStateChange =
  /** The pod's readiness probe passed (`ready` went true). */
  | { kind: 'ready'; pod: Pod; previous: Pod }
  /** 12 h without SSH activity: auto-release follows at 24 h. */
  | { kind: 'idle_warning'; pod: Pod; previous: Pod }
  /** The pod left Pending/Running; `endReason` is the contract's end_reason (or '' when unknown). */
  | { kind: 'ended'; pod: Pod; previous: Pod; endReason: string };

export interface RefreshFailure {
  error: unknown;
  /** Which request failed. */
  part: 'pods' | 'me' | 'gpu-models';
}

/** Persists which ended pods the user cleared from the list (workspaceState in the editor). */
export interface HiddenPodsStore {
  get(): readonly string[];
  set(ids: readonly string[]): void | PromiseLike<void>;
}

export class RentalsModel implements Disposable {
  private podList: Pod[] = [];
  private meValue: Me | undefined;
  private models: GpuModel[] | undefined;
  private baselineTaken = false;
  private inFlight: Promise<void> | undefined;
  private queued = false;
  private generation = 0;
  private failure: RefreshFailure | undefined;
  private refreshedAt: number | undefined;

  private readonly changeEmitter = new Emitter<void>();
  private readonly stateEmitter = new Emitter<PodStateChange>();
  private readonly failEmitter = new Emitter<RefreshFailure>();
  private readonly endEmitter = new Emitter<Extract<PodStateChange, { kind: 'ended' }>>();
  /** Fires after every refresh that completed (even partly) and after local changes. */
  readonly onDidChange = this.changeEmitter.event;
  /** One event per observed transition (ready, idle_warning, ended). Not fired for the first snapshot. */
  readonly onDidChangePodState = this.stateEmitter.event;
  /** A live pod ended (released here or elsewhere, out of credits, evicted, idle): the 'ended' subset of onDidChangePodState. */
  readonly onDidEndPod = this.endEmitter.event;
  /** Every failed request of a refresh (deduplicate before showing: see error-dedup.ts). */
  readonly onDidFail = this.failEmitter.event;

  constructor(
    private readonly source: () => RentalsSource,
    private readonly hidden: HiddenPodsStore = memoryHiddenStore(),
    private readonly now: () => number = Date.now,
  ) {}

  /** All pods of the account, newest first (including ended ones the user cleared). */
  get allPods(): readonly Pod[] {
    return this.podList;
  }

  /** The pods to show: all but the ended ones the user cleared. */
  get pods(): readonly Pod[] {
    const hidden = new Set(this.hidden.get());
    return this.podList.filter((p) => isLivePod(p) || !hidden.has(p.pod_id));
  }

  get(podId: string): Pod | undefined {
    return this.podList.find((p) => p.pod_id === podId);
  }

  get me(): Me | undefined {
    return this.meValue;
  }

  get gpuModels(): readonly GpuModel[] | undefined {
    return this.models;
  }

  /** The failure of the last refresh, undefined when it fully succeeded. */
  get lastError(): RefreshFailure | undefined {
    return this.failure;
  }

  /** When the last refresh finished (ms since the epoch), undefined before the first. */
  get lastRefreshAt(): number | undefined {
    return this.refreshedAt;
  }

  get hasPending(): boolean {
    return this.podList.some((p) => p.phase === 'Pending');
  }

  get livePods(): Pod[] {
    return this.podList.filter(isLivePod);
  }

  /** Fetch pods, /me and the GPU menu. Concurrent calls share the request in flight; a call made
   *  while one is in flight queues exactly one more (so an action's result is always seen). */
  refresh(): Promise<void> {
    if (this.inFlight) {
      this.queued = true;
      return this.inFlight;
    }
    const run = async (): Promise<void> => {
      do {
        this.queued = false;
        await this.refreshOnce();
      } while (this.queued);
    };
    this.inFlight = run().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async refreshOnce(): Promise<void> {
    const generation = this.generation;
    const { api, signedIn } = this.source();
    const failures: RefreshFailure[] = [];
    const attempt = async <T>(part: RefreshFailure['part'], f: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await f();
      } catch (error) {
        failures.push({ error, part });
        return undefined;
      }
    };
    const [models, pods, me] = await Promise.all([
      attempt('gpu-models', () => api.gpuModels()),
      signedIn ? attempt('pods', () => api.listPods()) : Promise.resolve(undefined),
      signedIn ? attempt('me', () => api.me()) : Promise.resolve(undefined),
    ]);
    if (generation !== this.generation) return; // reset() (sign-out, new apiBase) while in flight
    if (models) this.models = models;
    if (me) this.meValue = me;
    if (pods) await this.applyPods(api, pods, generation);
    if (generation !== this.generation) return;
    this.refreshedAt = this.now();
    // Prefer reporting the pods failure: it is what the user is looking at.
    this.failure = failures.find((f) => f.part === 'pods') ?? failures[0];
    for (const f of failures) this.failEmitter.fire(f);
    this.changeEmitter.fire();
  }

  private async applyPods(api: RentalsApi, fresh: Pod[], generation: number): Promise<void> {
    const before = new Map(this.podList.map((p) => [p.pod_id, p]));
    const sorted = [...fresh].sort(newestFirst);
    // A live pod that vanished from the list (released elsewhere and purged): read its final row.
    const seen = new Set(sorted.map((p) => p.pod_id));
    const vanished = [...before.values()].filter((p) => isLivePod(p) && !seen.has(p.pod_id));
    for (const p of vanished) {
      try {
        sorted.push(await api.getPod(p.pod_id));
      } catch {
        sorted.push({ ...p, phase: 'Ended', ready: false, end_reason: p.end_reason ?? null });
      }
    }
    if (generation !== this.generation) return;
    sorted.sort(newestFirst);
    this.podList = sorted;
    if (!this.baselineTaken) {
      this.baselineTaken = true;
      return;
    }
    for (const pod of sorted) {
      const previous = before.get(pod.pod_id);
      if (previous) this.emitTransitions(previous, pod);
    }
  }

  private emitTransitions(previous: Pod, pod: Pod): void {
    if (isLivePod(previous) && !isLivePod(pod)) {
      const ended = { kind: 'ended' as const, pod, previous, endReason: pod.end_reason ?? '' };
      this.stateEmitter.fire(ended);
      this.endEmitter.fire(ended);
      return;
    }
    if (!previous.ready && pod.ready && isLivePod(pod)) this.stateEmitter.fire({ kind: 'ready', pod, previous });
    if (!previous.idle_warning && pod.idle_warning && isLivePod(pod)) this.stateEmitter.fire({ kind: 'idle_warning', pod, previous });
  }

  /** Record a pod we just rented/released/read, before the next refresh, and fire its transitions. */
  upsert(pod: Pod): void {
    const i = this.podList.findIndex((p) => p.pod_id === pod.pod_id);
    const previous = i >= 0 ? this.podList[i] : undefined;
    const merged = previous ? { ...previous, ...pod } : pod;
    if (i >= 0) this.podList[i] = merged;
    else this.podList = [merged, ...this.podList].sort(newestFirst);
    if (previous && this.baselineTaken) this.emitTransitions(previous, merged);
    this.changeEmitter.fire();
  }

  /** Hide every ended pod from `pods` (remembered through the HiddenPodsStore). */
  async clearEnded(): Promise<void> {
    const ended = this.podList.filter((p) => !isLivePod(p)).map((p) => p.pod_id);
    const keep = new Set([...this.hidden.get(), ...ended]);
    // Forget ids the server no longer lists, so the store does not grow forever.
    const known = new Set(this.podList.map((p) => p.pod_id));
    await this.hidden.set([...keep].filter((id) => known.has(id)));
    this.changeEmitter.fire();
  }

  /** Forget everything (sign-out, another account or deployment). A refresh in flight is discarded. */
  reset(): void {
    this.generation++;
    this.podList = [];
    this.meValue = undefined;
    this.models = undefined;
    this.failure = undefined;
    this.baselineTaken = false;
    this.refreshedAt = undefined;
    this.changeEmitter.fire();
  }

  dispose(): void {
    this.generation++;
    this.changeEmitter.dispose();
    this.stateEmitter.dispose();
    this.failEmitter.dispose();
    this.endEmitter.dispose();
  }
}

function newestFirst(a: Pod, b: Pod): number {
  return Date.parse(b.created_at) - Date.parse(a.created_at) || (a.pod_id < b.pod_id ? 1 : -1);
}

export function memoryHiddenStore(initial: readonly string[] = []): HiddenPodsStore {
  let ids = [...initial];
  return { get: () => ids, set: (v) => void (ids = [...v]) };
}

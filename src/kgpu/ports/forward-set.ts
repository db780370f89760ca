/**
 * A window's forwarded ports (issue 19), editor-free: one PortForward per (pod, pod port), the
 * list persisted through `store` (the editor's workspaceState) and restored by a fresh instance
 * after a window reload — on the same local port when it is still free — once the pod is known to
 * be live. Saved forwards of a pod that ended are dropped; those of a pod not loaded yet are kept
 * for a later restore. The editor adapter (src/ports/forwarded-ports.ts) only wires events.
 */
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { PortForward, type OpenPodStream } from './port-forward';

export interface SavedForward {
  podId: string;
  podPort: number;
  localPort: number;
  /** Who listens in the pod, when known (`train.py`, `tensorboard`). */
  label?: string;
}

/** Where the list lives (workspaceState in the editor). */
export interface ForwardStore {
  get(): unknown;
  set(list: SavedForward[]): void;
}

/** What the window knows of a pod: 'live' (restore its forwards), 'ended' (drop them), undefined (not loaded yet: keep them). */
export type PodLiveness = 'live' | 'ended' | undefined;

export interface ForwardSetOptions {
  store: ForwardStore;
  liveness(podId: string): PodLiveness;
  /** One stream to `127.0.0.1:<podPort>` in the pod (the pod's agent). */
  openStream(podId: string, podPort: number, signal: AbortSignal): ReturnType<OpenPodStream>;
  log?: { info(m: string): void; warn(m: string): void };
}

/** The saved list, malformed entries dropped (the store is data from disk). */
export function parseSavedForwards(raw: unknown): SavedForward[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter(
      (s): s is SavedForward =>
        typeof s === 'object' &&
        s !== null &&
        typeof (s as SavedForward).podId === 'string' &&
        Number.isInteger((s as SavedForward).podPort) &&
        Number.isInteger((s as SavedForward).localPort) &&
        ((s as SavedForward).label === undefined || typeof (s as SavedForward).label === 'string'),
    )
    .map((s) => ({ podId: s.podId, podPort: s.podPort, localPort: s.localPort, ...(s.label ? { label: s.label } : {}) }));
}

export class ForwardSet implements Disposable {
  private readonly forwards = new Map<string, { saved: SavedForward; forward: PortForward }>();
  private readonly emitter = new Emitter<void>();
  /** A forward was added or removed. */
  readonly onDidChange: Event<void> = this.emitter.event;
  private readonly failEmitter = new Emitter<{ saved: SavedForward; error: Error }>();
  /** A forwarded connection's pod-side stream failed. */
  readonly onDidFailConnection: Event<{ saved: SavedForward; error: Error }> = this.failEmitter.event;
  private restoring: Promise<void> | undefined;
  private again = false;
  private disposed = false;

  constructor(private readonly options: ForwardSetOptions) {}

  /** The forwards of a pod, by pod port. */
  of(podId: string): SavedForward[] {
    return [...this.forwards.values()]
      .filter((f) => f.saved.podId === podId)
      .map((f) => f.saved)
      .sort((a, b) => a.podPort - b.podPort);
  }

  find(podId: string, podPort: number): SavedForward | undefined {
    return this.forwards.get(key(podId, podPort))?.saved;
  }

  /** Forward `podPort` of the pod (the existing forward when there is one). */
  async forward(
    podId: string,
    podPort: number,
    options: { localPort?: number; ifTaken?: 'any' | 'fail'; label?: string } = {},
  ): Promise<SavedForward> {
    const known = this.forwards.get(key(podId, podPort));
    if (known) return known.saved;
    const forward = await PortForward.listen({
      podPort,
      localPort: options.localPort,
      ifTaken: options.ifTaken,
      openStream: (signal) => this.options.openStream(podId, podPort, signal),
    });
    const raced = this.forwards.get(key(podId, podPort));
    if (raced || this.disposed) {
      forward.dispose();
      if (raced) return raced.saved;
      throw new Error('the forwarded ports were closed');
    }
    const saved: SavedForward = { podId, podPort, localPort: forward.localPort, ...(options.label ? { label: options.label } : {}) };
    forward.onDidFailConnection((error) => this.failEmitter.fire({ saved, error }));
    this.forwards.set(key(podId, podPort), { saved, forward });
    this.options.log?.info(`Forwarding ${forward.address} → ${podId} port ${podPort}.`);
    this.save();
    this.emitter.fire();
    return saved;
  }

  stop(podId: string, podPort: number): boolean {
    const f = this.forwards.get(key(podId, podPort));
    if (!f) return false;
    f.forward.dispose();
    this.forwards.delete(key(podId, podPort));
    this.options.log?.info(`Stopped forwarding ${f.forward.address} → ${podId} port ${podPort}.`);
    this.save();
    this.emitter.fire();
    return true;
  }

  /** The pod ended: its forwards stop and leave the saved list. */
  podEnded(podId: string): void {
    let changed = false;
    for (const [k, f] of this.forwards) {
      if (f.saved.podId !== podId) continue;
      f.forward.dispose();
      this.forwards.delete(k);
      changed = true;
    }
    const saved = this.saved();
    if (saved.some((s) => s.podId === podId)) this.options.store.set(saved.filter((s) => s.podId !== podId));
    if (changed) this.emitter.fire();
  }

  /** The saved list (malformed entries dropped). */
  saved(): SavedForward[] {
    return parseSavedForwards(this.options.store.get());
  }

  /**
   * Restore the saved forwards of live pods (after a reload; call again whenever the pods change):
   * each on its saved local port, another one when that is taken. Saved forwards of ended pods are
   * dropped; those of pods not known yet are kept. One restore at a time.
   */
  restore(): Promise<void> {
    if (this.restoring) {
      // The pods changed while a restore runs: look again when it ends (a pod may have become live).
      this.again = true;
      return this.restoring;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.restoreOnce();
      } while (this.again && !this.disposed);
    };
    // Cleared in a later tick, never before it is set (a pass that awaits nothing ends synchronously).
    const p: Promise<void> = run().finally(() => {
      if (this.restoring === p) this.restoring = undefined;
    });
    this.restoring = p;
    return p;
  }

  private async restoreOnce(): Promise<void> {
    const ended = new Set<string>();
    for (const s of this.saved()) {
      if (this.disposed) return;
      const state = this.options.liveness(s.podId);
      if (state === 'ended') ended.add(s.podId);
      if (state !== 'live' || this.forwards.has(key(s.podId, s.podPort))) continue;
      try {
        await this.forward(s.podId, s.podPort, { localPort: s.localPort, ifTaken: 'any', label: s.label });
      } catch (e) {
        this.options.log?.warn(`Could not restore the forward of ${s.podId} port ${s.podPort}: ${(e as Error).message}`);
      }
    }
    if (ended.size && !this.disposed) this.options.store.set(this.saved().filter((s) => !ended.has(s.podId)));
  }

  private save(): void {
    if (this.disposed) return;
    const live = [...this.forwards.values()].map((f) => f.saved);
    // Saved forwards of pods this window has not loaded yet are kept for their restore.
    const others = this.saved().filter(
      (s) => this.options.liveness(s.podId) === undefined && !live.some((l) => l.podId === s.podId && l.podPort === s.podPort),
    );
    this.options.store.set([...others, ...live]);
  }

  /** Close every listener (the window closes or reloads); the saved list stays for the next window. */
  dispose(): void {
    this.disposed = true;
    for (const f of this.forwards.values()) f.forward.dispose();
    this.forwards.clear();
    this.emitter.dispose();
    this.failEmitter.dispose();
  }
}

function key(podId: string, podPort: number): string {
  return `${podId}:${podPort}`;
}

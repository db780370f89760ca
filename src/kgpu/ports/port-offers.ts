/**
 * The "train.py is listening on 6006 — Forward" offers (issue 19), editor-free: while a job of
 * this window runs on a pod, a PortWatcher follows the pod's listening sockets and each port that
 * starts listening is offered once per pod and window (never again after a later job, never when
 * it is forwarded already). The watch stops when no job of this window runs there any more, and
 * pauses once the window has been unfocused for 10 minutes — like the telemetry, an open agent
 * stream is SSH activity, and a forgotten window must not keep the pod's idle clock from running.
 * The editor adapter (src/ports/port-commands.ts) turns each offer into a notification.
 */
import type { AgentStream, AgentTarget } from '../agent';
import { FocusClock, UNFOCUSED_STOP_MS } from '../telemetry/telemetry-demand';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import type { ListeningSocket } from './listening-sockets';
import { PortWatcher } from './port-watcher';

export interface PortOffer {
  podId: string;
  socket: ListeningSocket;
}

export interface PortOffersOptions {
  openStream(podId: string, target: AgentTarget, options: { signal?: AbortSignal }): Promise<AgentStream>;
  /** Whether the pod's port is forwarded already (then it is not offered). */
  isForwarded(podId: string, port: number): boolean;
  /** Whether the window has focus now. */
  focused: boolean;
  /** The pod's check interval (PortWatcher's default when absent). */
  intervalMs?: number;
  now?: () => number;
}

export class PortOffers implements Disposable {
  private readonly watchers = new Map<string, PortWatcher>();
  private readonly offered = new Set<string>();
  private readonly focus: FocusClock;
  private running = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly emitter = new Emitter<PortOffer>();
  /** Offer to forward this port (once per pod port). */
  readonly onDidOffer: Event<PortOffer> = this.emitter.event;
  private disposed = false;

  constructor(private readonly options: PortOffersOptions) {
    this.focus = new FocusClock(options.focused, options.now);
  }

  /** The pods where a job of this window runs now. */
  setRunning(podIds: Iterable<string>): void {
    this.running = new Set(podIds);
    this.update();
  }

  setFocused(focused: boolean): void {
    this.focus.set(focused);
    this.update();
  }

  /** The pods watched now. */
  get watching(): string[] {
    return [...this.watchers.keys()];
  }

  /** A pod's watcher (tests, diagnostics). */
  watcherOf(podId: string): PortWatcher | undefined {
    return this.watchers.get(podId);
  }

  /** Re-judge now (also done by a timer when the 10-minute unfocused mark passes). */
  update(): void {
    if (this.disposed) return;
    const wanted = this.focus.unfocusedForMs >= UNFOCUSED_STOP_MS ? new Set<string>() : this.running;
    if (this.timer) clearTimeout(this.timer);
    const left = this.focus.msUntilStop;
    this.timer = left !== undefined ? setTimeout(() => this.update(), left + 50) : undefined;
    this.timer?.unref?.();
    for (const [podId, w] of this.watchers) {
      if (wanted.has(podId)) continue;
      w.dispose();
      this.watchers.delete(podId);
    }
    for (const podId of wanted) {
      if (this.watchers.has(podId)) continue;
      const w = new PortWatcher({ openStream: (t, o) => this.options.openStream(podId, t, o), intervalMs: this.options.intervalMs });
      w.onDidAppear((socket) => this.offer(podId, socket));
      this.watchers.set(podId, w);
    }
  }

  private offer(podId: string, socket: ListeningSocket): void {
    const k = `${podId}:${socket.port}`;
    if (this.offered.has(k) || this.options.isForwarded(podId, socket.port)) return;
    this.offered.add(k);
    this.emitter.fire({ podId, socket });
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.dispose();
    this.watchers.clear();
    this.emitter.dispose();
  }
}

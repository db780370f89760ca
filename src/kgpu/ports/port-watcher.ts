/**
 * Watches a pod's listening sockets through the pod agent (one process stream running the
 * listening-sockets.ts program) and reports each port that starts listening after the watch
 * began — what a "train.py is listening on 6006 — Forward" offer needs. Ports listening when the
 * watch starts are the baseline and never reported; a port is reported once per watcher. A failed
 * stream (the SSH connection dropped) is retried after `retryMs` while the watcher lives.
 */
import { Emitter, type Disposable, type Event } from '../util/emitter';
import type { AgentStream, AgentTarget } from '../agent';
import { listenWatchArgv, readListenLines, type ListeningSocket } from './listening-sockets';

export interface PortWatcherOptions {
  openStream(target: AgentTarget, options: { signal?: AbortSignal }): Promise<AgentStream>;
  /** How often the pod checks (default 2 000 ms). */
  intervalMs?: number;
  /** Wait before restarting a failed watch (default 5 000 ms). */
  retryMs?: number;
}

export class PortWatcher implements Disposable {
  private readonly appearEmitter = new Emitter<ListeningSocket>();
  /** A port started listening in the pod (once per port per watcher). */
  readonly onDidAppear: Event<ListeningSocket> = this.appearEmitter.event;
  private baseline: Set<number> | undefined;
  private readonly reported = new Set<number>();
  private stream: AgentStream | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private readonly lifetime = new AbortController();
  private current: ListeningSocket[] = [];
  /** Lists received (tests, diagnostics). */
  lists = 0;

  constructor(private readonly options: PortWatcherOptions) {
    this.start();
  }

  /** The latest list (empty until the first one came). */
  get listening(): readonly ListeningSocket[] {
    return this.current;
  }

  private start(): void {
    if (this.lifetime.signal.aborted) return;
    const target: AgentTarget = { kind: 'process', argv: listenWatchArgv({ intervalMs: this.options.intervalMs }), stderr: 'discard' };
    this.options.openStream(target, { signal: this.lifetime.signal }).then(
      (s) => {
        if (this.lifetime.signal.aborted) {
          s.destroy();
          return;
        }
        this.stream = s;
        s.end();
        readListenLines(s, (list) => this.onList(list));
        const again = (): void => {
          if (this.stream === s) this.stream = undefined;
          this.scheduleRetry();
        };
        s.once('error', again);
        s.once('end', again);
      },
      () => this.scheduleRetry(),
    );
  }

  private scheduleRetry(): void {
    if (this.lifetime.signal.aborted || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.start();
    }, this.options.retryMs ?? 5000);
    this.retry.unref?.();
  }

  private onList(list: ListeningSocket[]): void {
    this.lists++;
    this.current = list;
    if (!this.baseline) {
      this.baseline = new Set(list.map((s) => s.port));
      return;
    }
    for (const s of list) {
      if (this.baseline.has(s.port) || this.reported.has(s.port)) continue;
      this.reported.add(s.port);
      this.appearEmitter.fire(s);
    }
  }

  dispose(): void {
    this.lifetime.abort();
    if (this.retry) clearTimeout(this.retry);
    this.stream?.destroy();
    this.appearEmitter.dispose();
  }
}

/** The pod's listening sockets now (one short process stream). */
export async function listListeningSockets(openStream: PortWatcherOptions['openStream'], signal?: AbortSignal): Promise<ListeningSocket[]> {
  const s = await openStream({ kind: 'process', argv: listenWatchArgv({ once: true }), stderr: 'discard' }, { signal });
  s.end();
  return new Promise((resolve, reject) => {
    let result: ListeningSocket[] = [];
    readListenLines(s, (list) => (result = list));
    s.once('error', reject);
    s.once('end', () => resolve(result));
  });
}

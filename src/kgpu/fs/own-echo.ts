/**
 * Own-echo suppression for the watch: an event the pod's watch reports for a change we made
 * ourselves (already announced) is not news. Within `ownEchoMs` of our change it is dropped
 * unseen; later (up to OWN_ECHO_CHECK_MS) it is dropped only when the pod's file is still what we
 * wrote, or — for a delete — when we deleted it. An event for a path we are changing right now is
 * held until our change is done, then judged the same way.
 */
import type { Disposable } from '../util/emitter';
import type { PathChange } from '../util/change-coalescer';

/** The watch's echo of our own change within this long is dropped unseen… */
export const OWN_ECHO_MS = 1500;
/** …and up to this long (a loaded machine, a slow link) it is dropped when the pod's file is still
 *  what we wrote (same mtime and size) or, for a delete, when we deleted it. */
export const OWN_ECHO_CHECK_MS = 60_000;

export interface OwnEchoOptions {
  /** Overrides OWN_ECHO_MS (tests set 0 to take the checked path). */
  ownEchoMs?: number;
  /** Is the pod's file at `p` still what we last wrote there (same mtime and size)? False when it cannot be told. */
  stillOurs: (p: string) => Promise<boolean>;
  /** Where the changes that are news go. */
  deliver: (changes: PathChange[]) => void;
}

export class OwnEchoFilter implements Disposable {
  private readonly recentOwn = new Map<string, { at: number; type?: PathChange['type'] }>();
  /** Watch events for paths we were changing at the time, judged when our change is done. */
  private readonly held = new Map<string, PathChange>();
  private heldTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(private readonly options: OwnEchoOptions) {}

  /** We are about to change these paths: the watch's echo of it is not news (from now until
   *  OWN_ECHO_MS after we announce it ourselves). */
  expect(paths: string[]): void {
    const now = Date.now();
    for (const p of paths) this.recentOwn.set(p, { at: now });
  }

  /** We changed these (and announce it now): events held for them are judged. */
  announced(changes: PathChange[]): void {
    const now = Date.now();
    for (const c of changes) this.recentOwn.set(c.path, { at: now, type: c.type });
    const held = changes.flatMap((c) => {
      const e = this.held.get(c.path);
      this.held.delete(c.path);
      return e ? [e] : [];
    });
    if (held.length) void this.unlessEchoes(held);
    if (this.recentOwn.size > 1000) {
      for (const [k, o] of this.recentOwn) if (now - o.at > OWN_ECHO_CHECK_MS) this.recentOwn.delete(k);
    }
  }

  /** The watch reported these: deliver the news, drop or hold what may be our own echo. */
  remote(changes: PathChange[]): void {
    const now = Date.now();
    const out: PathChange[] = [];
    const later: PathChange[] = [];
    for (const c of changes) {
      // The echo of our own write (already announced) is not news.
      const own = this.recentOwn.get(c.path);
      if (own !== undefined && now - own.at < (this.options.ownEchoMs ?? OWN_ECHO_MS)) continue;
      if (own !== undefined && now - own.at < OWN_ECHO_CHECK_MS) {
        // Our change is still going on: judge the event once it is done (or at the latest after the window).
        if (own.type === undefined) this.hold(c);
        else later.push(c);
        continue;
      }
      out.push(c);
    }
    if (out.length) this.options.deliver(out);
    if (later.length) void this.unlessEchoes(later);
  }

  /** Changes that may be a late echo of our own: news only if we did not delete it ourselves, or
   *  the pod's file is no longer what we wrote (another mtime or size), or it cannot be checked. */
  private async unlessEchoes(changes: PathChange[]): Promise<void> {
    const news: PathChange[] = [];
    for (const c of changes) {
      if (c.type === 'deleted') {
        if (this.recentOwn.get(c.path)?.type !== 'deleted') news.push(c);
        continue;
      }
      if (!(await this.options.stillOurs(c.path))) news.push(c);
    }
    if (news.length && !this.disposed) this.options.deliver(news);
  }

  /** An event for a path we are changing right now: kept until our change is done (announced()). */
  private hold(c: PathChange): void {
    this.held.set(c.path, c);
    this.heldTimer ??= setTimeout(() => {
      this.heldTimer = undefined;
      const all = [...this.held.values()];
      this.held.clear();
      void this.unlessEchoes(all);
    }, OWN_ECHO_CHECK_MS);
    this.heldTimer.unref?.();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.heldTimer);
    this.held.clear();
  }
}

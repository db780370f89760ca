/**
 * The spare connections of a PodConnector (ssh-connection.ts), opt-in with `spareConnections`: over
 * a real link a connection costs TCP + key exchange + auth, ~7 round trips (280 ms at 40 ms RTT),
 * and a run needs several in a row. The connector can keep up to N connections connected and
 * authenticated in the background, so the next `connect()` costs nothing and the channel open +
 * request ~2 round trips. A spare is still used for exactly ONE channel and then closed (never a
 * second channel on a connection); it is replaced in the background after each use. Spares only
 * live for `spareIdleMs` after the last `connect()`: then they are closed and not replaced until
 * the next one, so they never keep the pod's idle clock ("12 h of no SSH activity") running on
 * their own. A spare that dropped or failed to connect (key rotated, rental ended, network) is never
 * handed out: `connect()` then opens a fresh connection and reports that one's error, as without
 * spares. Nor is one that has heard nothing from the bastion for two keepalive intervals (an answer
 * is overdue): a stalled bastion does not close it, and ssh2 gives up on it only after four. One
 * spare: spare-connection.ts.
 */
import type { PodConnection } from './ssh-connection';
import { Spare } from './spare-connection';

const DEFAULT_SPARE_IDLE_MS = 45_000;

export interface SparePoolOptions {
  /** How many spares to keep (0: none). */
  target: number;
  /** Close the spares this long after the last take() (default 45 000 ms). */
  idleMs?: number;
  /** A connected spare that heard nothing for longer than this is not handed out (torn down). */
  quietLimitMs: number;
  /** When a connection last received anything from the bastion (keepalive answers included). */
  heardAt(conn: PodConnection): number;
  /** Open a fresh, authenticated connection, kept in `registry` until it closes. */
  dial(registry: Set<PodConnection>): Promise<PodConnection>;
}

export class SparePool {
  readonly target: number;
  private readonly idleMs: number;
  private readonly spares: Spare[] = [];
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Date.now() of the last take() (wall clock: a timer can fire late after a laptop sleeps). */
  private lastUse = 0;
  /** A spare failed to connect: no more spares until a caller's own connection succeeds. */
  private held = false;
  private disposed = false;

  constructor(private readonly o: SparePoolOptions) {
    this.target = o.target;
    this.idleMs = Math.max(0, o.idleMs ?? DEFAULT_SPARE_IDLE_MS);
  }

  /** Spares connected and ready to hand out. */
  get ready(): number {
    return this.spares.filter((s) => s.conn && !s.dead).length;
  }

  /** Spares connected or still connecting. */
  get size(): number {
    return this.spares.length;
  }

  /**
   * A connect() came: the idle window starts afresh, the best spare leaves the pool and another is
   * dialled in its place. Undefined when there was none; else resolves with the spare's connection
   * once it is connected and alive, or undefined when it failed or the caller gave up (then connect
   * afresh).
   */
  take(signal: AbortSignal | undefined): Promise<PodConnection | undefined> | undefined {
    const now = Date.now();
    // The idle window passed while its timer could not run (e.g. the machine slept): the spares
    // may be dead without us knowing. Drop them; this call connects afresh.
    if (this.lastUse > 0 && now - this.lastUse > this.idleMs) this.drop();
    this.lastUse = now;
    this.armIdleTimer();
    const spare = this.takeSpare();
    this.refill();
    return spare && this.awaitSpare(spare, signal);
  }

  /** A caller's own connection succeeded: connecting works again (a transient failure, or a new
   *  key), so spares held back after a failure may be refilled. */
  connected(): void {
    if (!this.held) return;
    this.held = false;
    if (this.target > 0 && Date.now() - this.lastUse <= this.idleMs) this.refill();
  }

  /** Close every spare and make no more. */
  dispose(): void {
    this.disposed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.drop();
  }

  /** The first live connected spare, else the oldest one still connecting; removed from the pool. */
  private takeSpare(): Spare | undefined {
    for (let i = this.spares.length - 1; i >= 0; i--) {
      const s = this.spares[i];
      // Quiet past an overdue keepalive answer: the bastion may be stalled (it was, whenever seen).
      if (s.conn && !s.dead && Date.now() - this.o.heardAt(s.conn) > this.o.quietLimitMs) s.destroy();
      if (s.dead) this.spares.splice(i, 1);
    }
    const i = this.spares.findIndex((s) => s.conn !== undefined);
    if (i >= 0) return this.spares.splice(i, 1)[0];
    return this.spares.shift();
  }

  /** The spare's connection once it is connected and alive; undefined if it failed or the caller gave up. */
  private awaitSpare(spare: Spare, signal: AbortSignal | undefined): Promise<PodConnection | undefined> {
    if (spare.conn) return Promise.resolve(spare.dead ? undefined : spare.conn);
    return new Promise<PodConnection | undefined>((resolve) => {
      const onAbort = (): void => {
        spare.destroy();
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      void spare.ready.then((conn) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(conn && !spare.dead && !signal?.aborted ? conn : undefined);
        if (conn && signal?.aborted) conn.close();
      });
    });
  }

  /** Start connecting spares up to the target (no-op when disposed or held). */
  private refill(): void {
    while (!this.disposed && !this.held && this.spares.length < this.target) {
      const spare = new Spare(
        (registry) => this.o.dial(registry),
        (gone, failed) => {
          // Never surfaced: the caller that would take this spare connects afresh and gets that error.
          if (failed) this.held = true;
          const i = this.spares.indexOf(gone);
          if (i >= 0) this.spares.splice(i, 1);
        },
      );
      this.spares.push(spare);
    }
  }

  private armIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.drop();
    }, this.idleMs);
    this.idleTimer.unref?.();
  }

  private drop(): void {
    for (const s of this.spares.splice(0)) s.destroy();
  }
}

/**
 * How WorkspaceFs runs one operation against the pod: over the current SFTP (a session lost while
 * opening it gets one fresh try), its failures classified into WorkspaceFsError, a transport
 * failure first checked against "has the pod ended?", and idempotent operations run once more
 * when the connection dropped under them and left them hanging (see guardSession). Identical
 * requests in flight at once are shared.
 */
import type { PodConnector } from '../ssh/ssh-connection';
import type { RemoteFs } from './remote-fs';
import { ConnectionLostError } from '../ssh/ssh-errors';
import { WorkspaceFsError, classify, fsError, isTransportError } from './workspace-fs-error';
import { ensureSession, guardSession, StuckOnLostSession } from './lost-session';

export interface PodRunnerOptions {
  podId: string;
  connection: () => Promise<{ connector: PodConnector; rfs: RemoteFs }>;
  /** The end reason when the pod has ended. */
  endReason: () => string | undefined;
  isDisposed: () => boolean;
  /** Asked after a transport failure: the end reason (in words) when the pod has ended, else undefined. */
  checkEnded?: () => Promise<string | undefined>;
  /** The pod turned out to have ended. */
  markEnded: (reason: string) => void;
}

export class PodRunner {
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly options: PodRunnerOptions) {}

  endedError(p: string): WorkspaceFsError {
    return fsError('PodEnded', this.options.podId, p, this.options.endReason() ?? 'unknown reason');
  }

  /** A transport failure: has the pod ended (then say so), or is it just unreachable? */
  private async transportFailure(e: unknown, p: string): Promise<WorkspaceFsError> {
    if (this.options.endReason() !== undefined) return this.endedError(p);
    const reason = await this.options.checkEnded?.().catch(() => undefined);
    if (reason !== undefined) {
      this.options.markEnded(reason);
      return this.endedError(p);
    }
    if (e instanceof WorkspaceFsError) return e;
    if (isTransportError(e)) return classify(e, this.options.podId, p);
    return fsError('Unavailable', this.options.podId, p, e instanceof Error ? e.message : String(e), e);
  }

  /** Run `fn` against the pod, classifying failures. `idempotent` operations are run once more
   *  when the SFTP connection dropped under them and left them hanging (see guardSession). */
  async run<T>(p: string, fn: (rfs: RemoteFs, connector: PodConnector) => Promise<T>, options: { idempotent?: boolean } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.options.endReason() !== undefined) throw this.endedError(p);
      let c: { connector: PodConnector; rfs: RemoteFs };
      try {
        c = await this.options.connection();
        await ensureSession(c.rfs);
      } catch (e) {
        // Opening the session is always safe to repeat: a connection lost while opening it (a
        // pre-connected spare whose link just died) gets one fresh try.
        if (e instanceof ConnectionLostError && attempt === 0 && !this.options.isDisposed()) continue;
        throw await this.transportFailure(e, p);
      }
      try {
        return await guardSession(c.rfs, () => fn(c.rfs, c.connector));
      } catch (e) {
        if (e instanceof WorkspaceFsError) throw e;
        if (e instanceof StuckOnLostSession && options.idempotent && attempt === 0 && !this.options.isDisposed()) continue;
        if (isTransportError(e)) throw await this.transportFailure(e, p);
        throw classify(e, this.options.podId, p);
      }
    }
  }

  /** Share one in-flight request per key (VS Code often asks the same thing several times at once). */
  shared<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key) as Promise<T> | undefined;
    if (existing) return existing;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}

/**
 * One spare connection of a PodConnector (ssh-connection.ts): dialled in the background, handed
 * out for exactly one channel once connected, and out of the pool (never handed out) as soon as it
 * drops, fails or is torn down.
 */
import type { PodConnection } from './ssh-connection';

/** A spare: connecting, or connected and waiting for its one channel. */
export class Spare {
  /** Set once connected. */
  conn: PodConnection | undefined;
  /** It closed, failed or was torn down: never to be handed out. */
  dead = false;
  /** Resolves with the connection, or undefined when it could not connect (the error is dropped). */
  readonly ready: Promise<PodConnection | undefined>;
  /** Its connection while the handshake runs (so that destroy() can cut it). */
  private readonly connecting = new Set<PodConnection>();

  constructor(dial: (registry: Set<PodConnection>) => Promise<PodConnection>, gone: (spare: Spare, failed: boolean) => void) {
    this.ready = dial(this.connecting).then(
      (conn) => {
        this.connecting.delete(conn);
        if (this.dead) {
          conn.close();
          return undefined;
        }
        this.conn = conn;
        // Dropped while waiting (bastion restart, network): out of the pool, not replaced now.
        // Also as soon as ssh2 gives up on it ('error', e.g. a keepalive timeout, then end()):
        // its socket is no longer writable, but 'close' waits for the peer — forever while the
        // bastion stalls — and a channel asked of it would throw "Not connected".
        let out = false;
        const lost = (): void => {
          this.dead = true;
          if (out) return;
          out = true;
          gone(this, false);
        };
        conn.client.once('error', lost);
        conn.client.once('end', lost);
        void conn.closed.then(lost);
        return conn;
      },
      () => {
        // A spare we tore down ourselves (idle, abort, dispose) did not fail.
        const failed = !this.dead;
        this.dead = true;
        gone(this, failed);
        return undefined;
      },
    );
  }

  /** Tear it down, connecting or connected. */
  destroy(): void {
    this.dead = true;
    for (const c of this.connecting) c.client.destroy();
    this.connecting.clear();
    this.conn?.close();
  }
}

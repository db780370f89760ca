/**
 * PROTOTYPE measured by the bench, not product code: a PodConnector that keeps `spares`
 * connections connected and authenticated in the background, so the next exec/SFTP session costs
 * a channel open + request (~2 round trips) instead of TCP + key exchange + auth (~7 round trips
 * measured). The bastion serves one channel per connection, so a spare is used once and replaced
 * at once. A run needs two at the same moment (the log follower, then the sync), hence 2.
 * Proposed for src/kgpu/ssh-connection.ts (see the README's Performance section).
 */
import { PodConnector, type PodConnection, type PodConnectorOptions } from '../../src/kgpu/ssh-connection';

export class PrewarmedConnector extends PodConnector {
  private readonly pool: Promise<PodConnection | undefined>[] = [];
  private closed = false;

  constructor(options: PodConnectorOptions, private readonly spares = 2) {
    super(options);
    this.refill();
  }

  private refill(): void {
    while (!this.closed && this.pool.length < this.spares) {
      const p: Promise<PodConnection | undefined> = super.connect().then(
        (c) => {
          // A spare that dies while idle (keepalive, bastion restart) is dropped, not handed out.
          void c.closed.then(() => {
            const i = this.pool.indexOf(p);
            if (i >= 0) this.pool.splice(i, 1);
          });
          return c;
        },
        () => undefined,
      );
      this.pool.push(p);
    }
  }

  override async connect(options: { signal?: AbortSignal } = {}): Promise<PodConnection> {
    const spare = this.pool.shift();
    this.refill();
    const c = spare ? await spare : undefined;
    if (c && !options.signal?.aborted) return c;
    c?.close();
    return super.connect(options);
  }

  override dispose(): void {
    this.closed = true;
    for (const p of this.pool.splice(0)) void p.then((c) => c?.close());
    super.dispose();
  }
}

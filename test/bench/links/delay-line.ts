/**
 * A TCP proxy that behaves like a link: every chunk leaves one-way-delay after it arrived (both
 * directions), optionally no faster than a rate (a serialisation clock per direction, shared by all
 * connections, as a real link's bandwidth is). Order is kept, and a sender is paused while more
 * than a few bandwidth-delay products are queued (backpressure, so a 200 MB copy is not buffered
 * here). Counts the connections it accepted (= SSH handshakes, one per connection).
 */
import net from 'node:net';

export interface DelayLineOptions {
  /** Address to listen on (port: a free one). */
  listenHost: string;
  target: { host: string; port: number };
  oneWayMs: number;
  /** Bytes per second in each direction; 0 = not limited here. */
  rate: number;
  /** Whether to enforce `rate` (else it only sizes the queues: a kernel qdisc limits the rate). */
  limitRate: boolean;
}

export interface DelayLine {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Largest piece the rate clock schedules at once (a smoother stream than whole 64 KB reads). */
const PIECE = 16 * 1024;

/** One direction's serialisation clock: when the wire is next free. */
class Wire {
  private freeAt = 0;
  constructor(private readonly rate: number) {}
  /** When a `bytes`-long piece that arrived at `t` has left the sender. */
  depart(t: number, bytes: number): number {
    if (this.rate <= 0) return t;
    this.freeAt = Math.max(t, this.freeAt) + (bytes / this.rate) * 1000;
    return this.freeAt;
  }
}

/** Chunks from `from` reach `to` after the delay (and the wire's rate), in order. */
class Pipe {
  private readonly queue: { due: number; buf: Buffer | null }[] = [];
  private queued = 0;
  private timer?: NodeJS.Timeout;
  private blocked = false;
  private paused = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly wire: Wire,
    oneWayMs: number,
    private readonly highWater: number,
  ) {
    from.on('data', (b: Buffer) => {
      const t = performance.now();
      for (let i = 0; i < b.length; i += PIECE) {
        const piece = b.subarray(i, Math.min(b.length, i + PIECE));
        this.push(this.wire.depart(t, piece.length) + oneWayMs, piece);
      }
      if (this.queued > this.highWater && !this.paused) {
        this.paused = true;
        from.pause();
      }
    });
    from.on('end', () => this.push(this.lastDue() ?? performance.now() + oneWayMs, null));
    from.on('error', () => to.destroy());
    from.on('close', (hadError) => {
      if (hadError) setTimeout(() => to.destroy(), oneWayMs);
    });
    to.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
  }

  private lastDue(): number | undefined {
    return this.queue.length ? this.queue[this.queue.length - 1].due : undefined;
  }

  private push(due: number, buf: Buffer | null): void {
    // Never before an earlier chunk (a rate clock and a fixed delay keep this anyway).
    const last = this.lastDue();
    this.queue.push({ due: last !== undefined && last > due ? last : due, buf });
    if (buf) this.queued += buf.length;
    this.pump();
  }

  private pump(): void {
    if (this.timer || this.blocked) return;
    const t = performance.now();
    while (this.queue.length && this.queue[0].due <= t) {
      const { buf } = this.queue.shift()!;
      if (buf === null) {
        this.to.end();
        continue;
      }
      this.queued -= buf.length;
      if (this.paused && this.queued <= this.highWater / 2) {
        this.paused = false;
        this.from.resume();
      }
      if (this.to.destroyed) continue;
      if (!this.to.write(buf)) {
        this.blocked = true;
        return;
      }
    }
    if (this.queue.length) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.pump();
        },
        Math.max(1, Math.ceil(this.queue[0].due - t)),
      );
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

export function startDelayLine(o: DelayLineOptions): Promise<DelayLine> {
  const sockets = new Set<net.Socket>();
  const pipes = new Set<Pipe>();
  const up = new Wire(o.limitRate ? o.rate : 0);
  const down = new Wire(o.limitRate ? o.rate : 0);
  // A few bandwidth-delay products (at least 4 MB): never the limit, yet a bounded queue.
  const highWater = Math.max(4 * 1024 * 1024, 4 * o.rate * (o.oneWayMs / 1000));
  let accepted = 0;
  const server = net.createServer({ noDelay: true }, (client) => {
    accepted++;
    const upstream = net.connect({ host: o.target.host, port: o.target.port, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    const a = new Pipe(client, upstream, up, o.oneWayMs, highWater);
    const b = new Pipe(upstream, client, down, o.oneWayMs, highWater);
    pipes.add(a).add(b);
    // A pipe stops when its destination is gone (not its source: what it holds is still due).
    upstream.on('close', () => {
      a.dispose();
      pipes.delete(a);
    });
    client.on('close', () => {
      b.dispose();
      pipes.delete(b);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, o.listenHost, () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections: () => accepted,
        close: () =>
          new Promise<void>((r) => {
            for (const p of pipes) p.dispose();
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

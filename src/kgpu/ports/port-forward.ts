/**
 * One forwarded port: a listener on this machine's 127.0.0.1 (never any other address) whose
 * every accepted connection becomes one stream to `127.0.0.1:<podPort>` in the pod through the
 * pod agent (src/kgpu/agent/) — the bastion refuses `-L`, so this is the only way to reach a
 * pod-side server by TCP. The listener does not depend on the agent: when the SSH connection
 * drops, the connections in flight are closed (reset) and the next accepted connection starts the
 * agent again, so a forward survives a dropped connection without the user doing anything.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { KgpuError } from '../util/kgpu-error';

/** Opens one stream to the pod-side port (AgentClient.openStream bound to the target). */
export type OpenPodStream = (signal: AbortSignal) => Promise<Duplex>;

export interface PortForwardOptions {
  podPort: number;
  /** The local port wanted (default: the pod port). */
  localPort?: number;
  /** When the wanted local port is taken: 'any' takes a free one (default), 'fail' rejects. */
  ifTaken?: 'any' | 'fail';
  openStream: OpenPodStream;
}

export interface PortForwardStats {
  /** Connections accepted. */
  accepted: number;
  /** Connections whose pod-side stream could not be opened or failed. */
  failed: number;
  /** Connections open now. */
  open: number;
}

export class PortForwardError extends KgpuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ports', 'forward_failed', message, options);
    this.name = new.target.name;
  }
}

export function isValidPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

export class PortForward implements Disposable {
  readonly stats: PortForwardStats = { accepted: 0, failed: 0, open: 0 };
  private readonly errorEmitter = new Emitter<Error>();
  /** A connection's pod-side stream failed (nothing listening in the pod, the agent dropped…). */
  readonly onDidFailConnection: Event<Error> = this.errorEmitter.event;
  private readonly sockets = new Set<net.Socket>();
  private readonly pending = new Set<AbortController>();
  private disposed = false;

  private constructor(
    private readonly server: net.Server,
    readonly podPort: number,
    readonly localPort: number,
    private readonly openStream: OpenPodStream,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listen on 127.0.0.1 (the wanted port, else a free one when `ifTaken` is 'any'). */
  static async listen(options: PortForwardOptions): Promise<PortForward> {
    if (!isValidPort(options.podPort)) throw new PortForwardError(`${options.podPort} is not a port number (1–65535).`);
    const wanted = options.localPort ?? options.podPort;
    if (wanted !== 0 && !isValidPort(wanted)) throw new PortForwardError(`${wanted} is not a port number (1–65535).`);
    // allowHalfOpen: a client that half-closes after its request (HTTP/1.0, nc -N) still gets the reply.
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    try {
      await listenOn(server, wanted);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'EADDRINUSE' || code === 'EACCES') && (options.ifTaken ?? 'any') === 'any' && wanted !== 0) {
        await listenOn(server, 0);
      } else {
        server.close();
        throw new PortForwardError(
          code === 'EADDRINUSE'
            ? `Local port ${wanted} is already in use on this machine; choose another one.`
            : code === 'EACCES'
              ? `Local port ${wanted} needs privileges on this machine; choose one above 1023.`
              : `Could not listen on 127.0.0.1:${wanted}: ${(e as Error).message}`,
          { cause: e },
        );
      }
    }
    const address = server.address() as net.AddressInfo;
    return new PortForward(server, options.podPort, address.port, options.openStream);
  }

  /** `127.0.0.1:<localPort>` */
  get address(): string {
    return `127.0.0.1:${this.localPort}`;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private accept(socket: net.Socket): void {
    if (this.disposed) {
      socket.destroy();
      return;
    }
    this.stats.accepted++;
    this.stats.open++;
    this.sockets.add(socket);
    const connection = new AbortController();
    this.pending.add(connection);
    let stream: Duplex | undefined;
    let failed = false;
    const fail = (e: Error): void => {
      if (failed) return;
      failed = true;
      this.stats.failed++;
      if (!this.disposed) this.errorEmitter.fire(e);
    };
    socket.on('error', () => stream?.destroy());
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stats.open--;
      this.pending.delete(connection);
      connection.abort();
      stream?.destroy();
    });
    this.openStream(connection.signal).then(
      (s) => {
        stream = s;
        if (socket.destroyed) {
          s.destroy();
          return;
        }
        s.on('error', (e: Error) => {
          fail(e);
          // The pod side failed: the local client sees a reset, never a clean end of a truncated reply.
          socket.resetAndDestroy();
        });
        // Half-closes travel both ways (an HTTP/1.0 client ends its request and reads on).
        s.pipe(socket);
        socket.pipe(s);
        socket.resume();
      },
      (e: unknown) => {
        fail(e instanceof Error ? e : new Error(String(e)));
        socket.resetAndDestroy();
      },
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of this.pending) c.abort();
    this.pending.clear();
    this.server.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.errorEmitter.dispose();
  }
}

function listenOn(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    // 127.0.0.1 only: a forwarded pod port is never reachable from another machine.
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

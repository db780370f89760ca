/**
 * A TCP relay in front of the bastion that the test controls connection by connection: it counts
 * the connections it accepted and those still open (both ends), and in `hold` mode it keeps each
 * new connection waiting until the test lets it through (`pass()`) or cuts it (`kill()`). Used to
 * see, without timing, which connect() opened a new TCP connection and to fail exactly one
 * handshake.
 */
import net from 'node:net';

export interface HeldConnection {
  pass(): void;
  kill(): void;
}

export interface TcpGate {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Client connections still open. */
  readonly live: number;
  /** 'pass': relay new connections at once; 'hold': queue them for next(); 'refuse': cut them at once. */
  mode: 'pass' | 'hold' | 'refuse';
  /** The next held connection (waits for one to arrive). */
  next(): Promise<HeldConnection>;
  close(): Promise<void>;
}

export function startTcpGate(target: { host: string; port: number }): Promise<TcpGate> {
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const held: HeldConnection[] = [];
  const waiters: ((h: HeldConnection) => void)[] = [];
  let accepted = 0;

  const relay = (client: net.Socket): void => {
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.resume();
  };

  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
    accepted++;
    sockets.add(client);
    clients.add(client);
    client.on('close', () => {
      sockets.delete(client);
      clients.delete(client);
    });
    client.on('error', () => undefined);
    if (gate.mode === 'refuse') {
      client.destroy();
      return;
    }
    if (gate.mode === 'pass') {
      relay(client);
      return;
    }
    const h: HeldConnection = { pass: () => relay(client), kill: () => client.destroy() };
    const w = waiters.shift();
    if (w) w(h);
    else held.push(h);
  });

  const gate: TcpGate = {
    port: 0,
    get accepted() {
      return accepted;
    },
    get live() {
      return clients.size;
    },
    mode: 'pass',
    next() {
      const h = held.shift();
      if (h) return Promise.resolve(h);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, target.host, () => {
      gate.port = (server.address() as net.AddressInfo).port;
      resolve(gate);
    });
  });
}

/**
 * A TCP proxy in front of the bastion that delays every chunk by a fixed one-way latency in each
 * direction (order kept), so scenarios can be measured at a WAN-like round-trip time without
 * touching the machine's network settings. For small, latency-bound traffic only (no backpressure).
 */
import net from 'node:net';

export interface LatencyProxy {
  port: number;
  close(): Promise<void>;
}

export function startLatencyProxy(target: { host: string; port: number }, oneWayMs: number): Promise<LatencyProxy> {
  const sockets = new Set<net.Socket>();
  // Node runs timers of equal duration in the order they were set: chunks stay in order.
  const later = (fn: () => void): void => void setTimeout(fn, oneWayMs);
  const relay = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (b: Buffer) => later(() => to.write(b)));
    from.on('end', () => later(() => to.end()));
    from.on('error', () => to.destroy());
    from.on('close', (hadError) => {
      if (hadError) later(() => to.destroy());
    });
  };
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, target.host, () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

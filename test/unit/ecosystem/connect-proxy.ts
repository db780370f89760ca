/**
 * A local HTTP CONNECT proxy for the proxy tests: it tunnels CONNECT host:port (after checking
 * Basic credentials when given some), refuses plain forwarding, and records every CONNECT target.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ConnectProxy {
  url: string;
  port: number;
  /** "host:port" of every CONNECT, in order. */
  connects: string[];
  close(): Promise<void>;
}

export async function startConnectProxy(o: { user?: string; password?: string; refusePorts?: number[] } = {}): Promise<ConnectProxy> {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(501).end('this proxy only tunnels (CONNECT)');
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const target = req.url ?? '';
    connects.push(target);
    if (o.user) {
      const want = `Basic ${Buffer.from(`${o.user}:${o.password ?? ''}`).toString('base64')}`;
      if (req.headers['proxy-authorization'] !== want) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
        return;
      }
    }
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    if (!m || o.refusePorts?.includes(Number(m[2]))) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = net.connect(Number(m[2]), m[1], () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const auth = o.user ? `${encodeURIComponent(o.user)}:${encodeURIComponent(o.password ?? '')}@` : '';
  return {
    url: `http://${auth}127.0.0.1:${port}`,
    port,
    connects,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

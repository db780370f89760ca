/**
 * How a pod reaches the simulator. Pods live in their own network namespaces (nothing there but
 * their loopback), so the REST server (API + presigned object URLs) and the package index (the
 * pods' stand-in for PyPI) also listen on Unix sockets; the sockets' folder is bind-mounted into
 * every pod, whose init relays its own 127.0.0.1:<port> of each to its socket. So
 * `$KGPU_API_BASE`, the presigned URLs and `$PIP_INDEX_URL` are the very same URLs inside a pod as
 * outside, and nothing else of this machine is reachable from a pod.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodReach } from './contracts';

export interface PodReachServer {
  /** What to pass to the pod runtime. */
  readonly reach: PodReach;
  close(): Promise<void>;
}

/** Longest Unix socket path Linux takes (sun_path is 108 bytes, NUL included). */
const MAX_SOCKET_PATH = 107;

/** An HTTP server a pod may reach: it listens on host:port here, and on `socket` for the pods. */
export interface PodService {
  http: Server;
  host: string;
  port: number;
  /** The Unix socket's file name, e.g. `api.sock`. */
  socket: string;
}

/** Serve each service on a Unix socket too, for the pods' relays to its `host:port`. */
export async function listenForPods(services: PodService[], o: { stateDir: string }): Promise<PodReachServer> {
  let dir = join(o.stateDir, 'pod-net');
  let ownDir = false;
  const longest = services.reduce((a, s) => (s.socket.length > a.length ? s.socket : a), '');
  if (Buffer.byteLength(join(dir, longest)) > MAX_SOCKET_PATH) {
    dir = mkdtempSync(join(tmpdir(), 'kgpu-sim-net-'));
    ownDir = true;
  } else {
    rmSync(dir, { recursive: true, force: true }); // a socket left by a killed simulator
    mkdirSync(dir, { recursive: true });
  }
  const sockets = new Set<Socket>();
  const servers: NetServer[] = [];
  const closeAll = (): Promise<void> =>
    new Promise<void>((resolve) => {
      let left = servers.length;
      const done = () => {
        if (--left > 0) return;
        if (ownDir) rmSync(dir, { recursive: true, force: true });
        else for (const s of services) rmSync(join(dir, s.socket), { force: true });
        resolve();
      };
      if (left === 0) {
        left = 1;
        done();
      }
      for (const server of servers) server.close(done);
      for (const s of sockets) s.destroy();
    });
  try {
    for (const service of services) {
      const server: NetServer = createServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        service.http.emit('connection', s);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(join(dir, service.socket), () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return {
    // A pod's relay listens where each service lives (its loopback is all a pod has).
    reach: { dir, relays: services.map((s) => ({ host: s.host, port: s.port, socket: s.socket })) },
    close: closeAll,
  };
}

/**
 * How a pod reaches the simulator. Pods live in their own network namespaces (nothing there but
 * their loopback), so the REST server (API + presigned object URLs) also listens on a Unix socket;
 * the socket's folder is bind-mounted into every pod, whose init relays its own
 * 127.0.0.1:<API port> to it. So `$KGPU_API_BASE` and the presigned URLs are the very same URLs
 * inside a pod as outside, and nothing else of this machine is reachable from a pod.
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

/** Serve `http` on a Unix socket too, for the pods' relays to `host:port`. */
export async function listenForPods(http: Server, o: { stateDir: string; host: string; port: number }): Promise<PodReachServer> {
  let dir = join(o.stateDir, 'pod-net');
  let ownDir = false;
  if (Buffer.byteLength(join(dir, 'api.sock')) > MAX_SOCKET_PATH) {
    dir = mkdtempSync(join(tmpdir(), 'kgpu-sim-net-'));
    ownDir = true;
  } else {
    rmSync(dir, { recursive: true, force: true }); // a socket left by a killed simulator
    mkdirSync(dir, { recursive: true });
  }
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    http.emit('connection', s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(join(dir, 'api.sock'), () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    // A pod's relay listens where the API lives (its loopback is all a pod has).
    reach: { dir, relays: [{ host: o.host, port: o.port, socket: 'api.sock' }] },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(ownDir ? dir : join(dir, 'api.sock'), { recursive: true, force: true });
          resolve();
        });
        for (const s of sockets) s.destroy();
      }),
  };
}

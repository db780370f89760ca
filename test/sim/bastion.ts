/**
 * The simulator's SSH bastion (issue 5), on ssh2's `Server`. It refuses exactly what the contract's
 * bastion refuses: users other than `kgpu`, anything but public-key auth, keys pinned to no live
 * pod, a second channel on a connection (so OpenSSH ControlMaster multiplexing fails), the `sftp`
 * subsystem (plain OpenSSH 9 `scp`/`sftp` print `subsystem request failed`), port forwarding
 * (-L/-R/-D), agent and X11 forwarding. `exec` and `shell`, with or without a PTY, run inside the
 * pod the key is pinned to (pods.ts); window changes, env requests, signals, exit status and exit
 * signals pass through. A connection and the faults tests arm on it: bastion-conn.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { Server, utils, type Connection, type ServerChannel, type Session } from 'ssh2';
import { mintKeyPair } from './ssh-keys';
import { fixWindowWaits } from './ssh2-window-waits';
import type { Bastion, PodHandle, PodProcess, StartBastion } from './contracts';
import { cutAfterBytes, gateAnswers, watchForRequest, type Conn } from './bastion-conn';

/** OpenSSH-style `SHA256:<base64 without padding>` of a public key blob. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function loadOrCreateHostKey(path: string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const pair = mintKeyPair('kgpu-sim bastion'); // only pairs ssh2 itself can parse
    writeFileSync(path, pair.privateKey, { mode: 0o600 });
    writeFileSync(`${path}.pub`, `${pair.publicKey}\n`, { mode: 0o644 });
  }
  return readFileSync(path, 'utf8');
}

const SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

function killProcessGroup(p: PodProcess, signal: NodeJS.Signals): void {
  const pid = p.child.pid;
  if (!pid || p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      p.child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

export const startBastion: StartBastion = async ({ directory, hostKeyPath, host = '127.0.0.1', port = 0 }) => {
  const hostKey = loadOrCreateHostKey(hostKeyPath);
  const counters = { connections: 0, refusedChannels: 0, refusedSubsystems: 0, refusedForwards: 0, authFailures: 0 };
  const conns = new Set<Conn>();
  let paused = false;
  const held: Socket[] = [];
  /** Standing faults (cutNewConnections): connections authenticated while one is set are armed. */
  const standing = new Set<{ podId: string; afterBytes: number }>();

  const activity = (conn: Conn): void => {
    if (!conn.podId) return;
    const now = Date.now();
    if (now - conn.lastActivity < 1000) return;
    conn.lastActivity = now;
    directory.noteSshActivity(conn.podId);
  };

  const ssh = new Server({ hostKeys: [hostKey], ident: 'kgpu-bastion' }, (client: Connection) => {
    const socket = (client as unknown as { _sock: Socket })._sock;
    const conn = [...conns].find((c) => c.socket === socket);
    if (!conn) {
      socket.destroy();
      return;
    }
    let handle: PodHandle | undefined;
    client.on('error', () => undefined);

    client.on('authentication', (ctx) => {
      if (ctx.username !== 'kgpu') {
        counters.authFailures++;
        ctx.reject(['publickey']);
        return;
      }
      if (ctx.method !== 'publickey') {
        if (ctx.method !== 'none') counters.authFailures++;
        ctx.reject(['publickey']);
        return;
      }
      const found = directory.podForFingerprint(sshFingerprint(ctx.key.data));
      if (!found) {
        counters.authFailures++;
        ctx.reject(['publickey']);
        return;
      }
      if (ctx.signature) {
        const parsed = utils.parseKey(ctx.key.data);
        const key = Array.isArray(parsed) ? parsed[0] : parsed;
        if (!key || key instanceof Error || ctx.blob === undefined || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
          counters.authFailures++;
          ctx.reject(['publickey']);
          return;
        }
        handle = found.handle;
        conn.podId = found.podId;
        conn.lastActivity = 0;
        activity(conn);
        for (const f of standing) if (f.podId === conn.podId) conn.bytesLeft = Math.min(conn.bytesLeft ?? Infinity, f.afterBytes);
      }
      ctx.accept(); // without a signature: "this key would do", the client then signs
    });

    client.on('request', (accept, reject, name) => {
      // tcpip-forward (-R), streamlocal-forward: refused. (Other global requests are answered by ssh2.)
      if (/forward/.test(name)) counters.refusedForwards++;
      reject?.();
    });
    client.on('tcpip', (_accept, reject) => {
      counters.refusedForwards++; // -L / -D
      reject();
    });
    client.on('openssh.streamlocal', (_accept, reject) => {
      counters.refusedForwards++;
      reject();
    });

    client.on('session', (accept, reject) => {
      if (!handle || !conn.podId || conn.sessions > 0) {
        counters.refusedChannels++;
        reject();
        return;
      }
      conn.sessions++;
      activity(conn);
      const pod = handle;
      const session: Session = accept();
      const env: Record<string, string> = {};
      let pty: { cols: number; rows: number; term?: string } | undefined;
      let proc: PodProcess | undefined;
      let started = false;

      session.on('env', (acc, _rej, info) => {
        if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(info.key) && info.key !== 'KGPU_API_TOKEN') env[info.key] = info.val;
        acc?.();
      });
      session.on('pty', (acc, _rej, info) => {
        pty = { cols: info.cols || 80, rows: info.rows || 24, term: info.term };
        acc?.();
      });
      session.on('window-change', (acc, _rej, info) => {
        activity(conn);
        if (pty) pty = { ...pty, cols: info.cols, rows: info.rows };
        proc?.resize(info.cols, info.rows);
        acc?.();
      });
      session.on('signal', (acc, _rej, info) => {
        const name = String(info.name).replace(/^SIG/, '');
        if (proc && SIGNALS.has(name)) killProcessGroup(proc, `SIG${name}` as NodeJS.Signals);
        acc?.();
      });
      session.on('subsystem', (_acc, rej) => {
        counters.refusedSubsystems++;
        rej?.();
      });
      session.on('auth-agent', (_acc, rej) => {
        counters.refusedForwards++;
        rej?.();
      });
      session.on('x11', (_acc, rej) => {
        counters.refusedForwards++;
        rej?.();
      });

      const run = (command: string | null, acc: () => ServerChannel, rej: (() => void) | undefined): void => {
        if (started) {
          rej?.();
          return;
        }
        started = true;
        activity(conn);
        const stream = acc();
        try {
          proc = pod.spawn(command, { pty, env, stripToken: command === null });
        } catch (e) {
          stream.stderr.write(`kgpu: the pod cannot run commands: ${(e as Error).message}\r\n`);
          stream.exit(1);
          stream.end();
          return;
        }
        const p = proc;
        conn.procs.add(p);
        const child = p.child;
        fixWindowWaits(stream);
        gateAnswers(conn, stream);
        child.stdout!.pipe(stream, { end: false });
        child.stderr!.pipe(stream.stderr, { end: false });
        stream.on('data', (b: Buffer) => {
          activity(conn);
          if (conn.request) watchForRequest(conn.request, b);
        });
        stream.pipe(child.stdin!);
        child.stdin!.on('error', () => undefined);
        stream.on('error', () => undefined);
        // The client hanging up while the command still writes to stderr: sshd drops the rest
        // (without this the write-after-end error of the stderr side was uncaught).
        stream.stderr.on('error', () => undefined);
        let finished = false;
        child.on('error', (e) => {
          if (finished) return;
          finished = true;
          stream.stderr.write(`kgpu: could not start the command: ${e.message}\r\n`);
          stream.exit(127);
          stream.end();
        });
        child.on('close', (code, signal) => {
          conn.procs.delete(p);
          if (finished) return;
          finished = true;
          const finish = (): void => {
            try {
              if (signal) stream.exit(signal.replace(/^SIG/, ''), false, '');
              else stream.exit(code ?? 1);
              stream.end();
            } catch {
              /* the channel is already gone */
            }
          };
          // exit-status goes out at once: let the output still queued for the window go first (an
          // empty write's callback runs only after every earlier chunk has been handed over).
          if (stream.writableLength + stream.stderr.writableLength === 0) finish();
          else {
            let pending = 2;
            const done = (): void => {
              if (--pending === 0) finish();
            };
            stream.write(Buffer.alloc(0), done);
            stream.stderr.write(Buffer.alloc(0), done);
          }
        });
        stream.on('close', () => {
          // The client went away first: hang up the command like sshd does.
          if (!finished) killProcessGroup(p, 'SIGHUP');
        });
      };
      session.on('exec', (acc, rej, info) => run(info.command, acc, rej));
      session.on('shell', (acc, rej) => run(null, acc, rej));
    });

    client.on('close', () => {
      for (const p of conn.procs) killProcessGroup(p, 'SIGHUP');
    });
  });

  const net: NetServer = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    counters.connections++;
    if (paused) {
      socket.pause();
      held.push(socket);
      return;
    }
    accept(socket);
  });

  function accept(socket: Socket): void {
    const conn: Conn = { socket, sessions: 0, procs: new Set(), lastActivity: 0 };
    conns.add(conn);
    socket.once('close', () => conns.delete(conn));
    cutAfterBytes(conn);
    if (paused) {
      socket.pause();
      socket.cork();
    }
    ssh.injectSocket(socket);
  }

  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(port, host, () => {
      net.off('error', reject);
      resolve();
    });
  });
  const addr = net.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;

  let stopping: Promise<void> | undefined;
  const bastion: Bastion = {
    host,
    port: boundPort,
    counters,
    dropConnections(filter = {}) {
      for (const c of conns) {
        if (filter.podId !== undefined && c.podId !== filter.podId) continue;
        if (filter.afterRequest !== undefined)
          c.request = { marker: Buffer.from(filter.afterRequest), seen: Buffer.alloc(0), answersFirst: filter.answersFirst ?? 0 };
        // A cut already pending is never postponed (a test may call this every few ms).
        else if (filter.afterBytes !== undefined && filter.afterBytes > 0)
          c.bytesLeft = Math.min(c.bytesLeft ?? Infinity, filter.afterBytes);
        else c.socket.destroy();
      }
      if (filter.podId === undefined && filter.afterRequest === undefined && !(filter.afterBytes! > 0))
        for (const s of held.splice(0)) s.destroy();
    },
    get paused() {
      return paused;
    },
    cutNewConnections(fault) {
      const f = { ...fault };
      standing.add(f);
      return () => standing.delete(f);
    },
    pause() {
      if (paused) return;
      paused = true;
      for (const c of conns) {
        c.socket.pause();
        c.socket.cork();
      }
    },
    resume() {
      if (!paused) return;
      paused = false;
      for (const c of conns) {
        c.socket.uncork();
        c.socket.resume();
      }
      for (const s of held.splice(0)) {
        if (s.destroyed) continue;
        s.resume();
        accept(s);
      }
    },
    closePod(podId) {
      for (const c of conns) if (c.podId === podId) c.socket.destroy();
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const s of held.splice(0)) s.destroy();
        for (const c of conns) {
          for (const p of c.procs) killProcessGroup(p, 'SIGHUP');
          c.socket.destroy();
        }
        net.close(() => resolve());
      });
      return stopping;
    },
  };
  return bastion;
};

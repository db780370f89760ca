// Child processes in their own session/process group (setsid), stopped as a whole group, plus a
// bounded condition poll. Used for the simulator and code-server (whose file watcher and
// extension hosts are grandchildren that must not outlive a run).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Starts `cmd args` as the leader of a new session (Node's `detached: true` calls setsid()),
 * stdout+stderr appended to `logFile`.
 * @returns {{ pid: number, child: import('node:child_process').ChildProcess, exited: Promise<number|null>, stop: (graceMs?: number) => Promise<void>, logTail: (lines?: number) => string }}
 */
export function startGroup(cmd, args, { env = process.env, cwd, logFile }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, cwd, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let done = false;
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve(code ?? (signal ? 128 : null));
    }),
  );
  child.on('error', () => {
    done = true;
  });
  const killGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  return {
    pid: child.pid,
    child,
    exited,
    async stop(graceMs = 5000) {
      if (!done) {
        killGroup('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs).unref())]);
      }
      // Grandchildren (file watcher, extension hosts, pods) may outlive the leader: finish the group.
      killGroup('SIGKILL');
    },
    logTail(lines = 40) {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
  };
}

/** Polls `probe` (sync or async; truthy = done) every `intervalMs` until `timeoutMs`; returns its value. */
export async function waitFor(probe, { timeoutMs, intervalMs = 100, what }) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}

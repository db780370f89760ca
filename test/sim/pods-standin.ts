/**
 * A stand-in PodRuntime used only while the real one (pods.ts, namespaces and all) is not in the
 * tree: plain child processes in a per-pod directory. No isolation, no /workspace mount — the pod's
 * directory is the working directory. index.ts prefers ./pods whenever it exists.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CreatePodRuntime, ExecResult, PodHandle, PodProcess, PodRuntimeSpec } from './contracts';
import { ExecOutput } from './exec-output';

export const createStandInPodRuntime: CreatePodRuntime = ({ stateDir }) => {
  const handles = new Set<PodHandle>();
  return {
    async create(spec: PodRuntimeSpec): Promise<PodHandle> {
      const root = join(stateDir, spec.podId);
      const workspaceDir = join(root, 'workspace');
      mkdirSync(workspaceDir, { recursive: true });
      mkdirSync(join(root, 'tmp'), { recursive: true });
      const children = new Set<ChildProcess>();
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workspaceDir, TMPDIR: join(root, 'tmp'), ...spec.env };
      const track = (c: ChildProcess): ChildProcess => {
        children.add(c);
        c.on('exit', () => children.delete(c));
        return c;
      };
      const killAll = (): void => {
        for (const c of children) {
          try {
            if (c.pid) process.kill(-c.pid, 'SIGKILL');
          } catch {
            c.kill('SIGKILL');
          }
        }
      };
      let destroyed = false;
      const handle: PodHandle = {
        podId: spec.podId,
        workspaceDir,
        spawn(command: string | null, o = {}): PodProcess {
          const e: Record<string, string> = { ...env, ...o.env };
          if (o.stripToken) delete e.KGPU_API_TOKEN;
          const child = track(
            spawn('sh', command === null ? ['-l'] : ['-c', command], { cwd: workspaceDir, env: e, detached: true, stdio: 'pipe' }),
          );
          return { child, resize: () => undefined };
        },
        exec(argv, o): Promise<ExecResult> {
          const started = Date.now();
          return new Promise((resolve) => {
            const child = track(spawn(argv[0], argv.slice(1), { cwd: workspaceDir, env, detached: true, stdio: 'pipe' }));
            const output = new ExecOutput(child, o.maxOutputBytes);
            const timer = setTimeout(() => {
              try {
                if (child.pid) process.kill(-child.pid, 'SIGKILL');
              } catch {
                child.kill('SIGKILL');
              }
            }, o.timeoutMs);
            let spawnError: Error | undefined;
            child.on('error', (e) => (spawnError = e));
            child.stdin?.on('error', () => undefined);
            child.stdin?.end(o.stdin ?? Buffer.alloc(0));
            child.on('close', (code, signal) => {
              clearTimeout(timer);
              const stderr =
                output.stderr +
                (spawnError
                  ? `${argv[0]}: ${(spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : spawnError.message}\n`
                  : '');
              resolve({
                exit_code: spawnError ? 127 : (code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)),
                stdout: output.stdout,
                stderr,
                duration_ms: Date.now() - started,
                truncated: output.truncated,
              });
            });
          });
        },
        async diskUsageBytes(): Promise<number> {
          const walk = (d: string): number => {
            let n = 0;
            for (const name of readdirSync(d)) {
              const p = join(d, name);
              const st = statSync(p, { throwIfNoEntry: false });
              if (!st) continue;
              n += st.isDirectory() ? walk(p) : st.size;
            }
            return n;
          };
          return destroyed ? 0 : walk(root);
        },
        async isBusy(): Promise<boolean> {
          return false;
        },
        async destroy(): Promise<void> {
          if (destroyed) return;
          destroyed = true;
          killAll();
          handles.delete(handle);
          rmSync(root, { recursive: true, force: true });
        },
      };
      handles.add(handle);
      return handle;
    },
    async shutdown(): Promise<void> {
      await Promise.all([...handles].map((h) => h.destroy()));
    },
  };
};

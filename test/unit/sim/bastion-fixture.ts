/**
 * Test fixture for the bastion and pod runtime: a real PodRuntime (namespaces and all) and a real
 * bastion, with a tiny in-test BastionDirectory (fingerprint → pod), throwaway ed25519 keys made
 * by ssh-keygen, and helpers to run the real OpenSSH clients against it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { startBastion, sshFingerprint } from '../../sim/bastion';
import type { Bastion, PodHandle, PodRuntime } from '../../sim/contracts';
import { createPodRuntime } from '../../sim/pods';

export interface TestKey {
  path: string;
  publicKey: string;
  fingerprint: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface BastionFixture {
  dir: string;
  runtime: PodRuntime;
  bastion: Bastion;
  /** podIds passed to noteSshActivity, in order. */
  activity: string[];
  newKey(name?: string): TestKey;
  /** Create a pod and pin a fresh key to it. */
  rentPod(
    podId: string,
    o?: { gpuModel?: string; gpuCount?: number; env?: Record<string, string> },
  ): Promise<{ handle: PodHandle; key: TestKey }>;
  /** Release: unpin the pod's keys, close its connections, destroy it (what the state does). */
  releasePod(podId: string): Promise<void>;
  /** OpenSSH options for this bastion and key (before the destination). OpenSSH keeps the first
   *  value of an option, so the log level is a parameter here. */
  sshOpts(key: TestKey, logLevel?: 'ERROR' | 'INFO' | 'DEBUG'): string[];
  /** Run a program (ssh, scp, sftp, rsync …) without blocking the event loop. */
  run(cmd: string, args: string[], o?: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  close(): Promise<void>;
}

export async function startBastionFixture(): Promise<BastionFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-bastion-test-'));
  const runtime = createPodRuntime({ stateDir: join(dir, 'pods') });
  const pinned = new Map<string, { podId: string; handle: PodHandle }>();
  const activity: string[] = [];
  const bastion = await startBastion({
    directory: {
      podForFingerprint: (fp) => pinned.get(fp),
      noteSshActivity: (podId) => activity.push(podId),
    },
    hostKeyPath: join(dir, 'ssh_host_ed25519_key'),
  });
  let n = 0;
  const newKey = (name = `k${++n}`): TestKey => {
    const path = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kgpu-test', '-f', path]);
    const publicKey = readFileSync(`${path}.pub`, 'utf8').trim();
    const parsed = utils.parseKey(publicKey);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) throw new Error('ssh-keygen wrote an unparsable key');
    return { path, publicKey, fingerprint: sshFingerprint(key.getPublicSSH()) };
  };
  const run: BastionFixture['run'] = (cmd, args, o = {}) =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const child = spawn(cmd, args, { env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input ?? '');
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
      });
    });
  return {
    dir,
    runtime,
    bastion,
    activity,
    newKey,
    async rentPod(podId, o = {}) {
      const handle = await runtime.create({
        podId,
        gpuModel: o.gpuModel ?? 'rtx4090',
        gpuCount: o.gpuCount ?? 1,
        env: {
          KGPU_API_TOKEN: `kgpu_pod_${podId}.testsig`,
          KGPU_API_BASE: 'http://127.0.0.1:9/v1',
          KGPU_GPU_ID: podId,
          KGPU_RENT_ID: podId,
          NVIDIA_VISIBLE_DEVICES: 'void',
          ...o.env,
        },
        diskLimitBytes: 1 << 30,
      });
      const key = newKey(`${podId}-key`);
      pinned.set(key.fingerprint, { podId, handle });
      return { handle, key };
    },
    async releasePod(podId) {
      let handle: PodHandle | undefined;
      for (const [fp, v] of pinned) {
        if (v.podId !== podId) continue;
        handle = v.handle;
        pinned.delete(fp);
      }
      bastion.closePod(podId);
      await handle?.destroy();
    },
    sshOpts: (key, logLevel = 'ERROR') => [
      '-p',
      String(bastion.port),
      '-i',
      key.path,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      `LogLevel=${logLevel}`,
      '-o',
      'ConnectTimeout=10',
    ],
    run,
    async close() {
      await bastion.stop();
      await runtime.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `check` until it returns a truthy value or the deadline passes (then throw `what`). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

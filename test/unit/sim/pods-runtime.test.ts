/**
 * The simulator's pod runtime (pods.ts) on its own: isolation (mount + PID namespaces, /workspace,
 * own /tmp), the pod's environment and default image, POST /exec semantics (argv, stdin, timeout
 * with partial output, output cap), disk usage, the busy probe and destroy.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PodHandle, PodRuntime } from '../../sim/contracts';
import { createPodRuntime, hostPidsOfPod } from '../../sim/pods';
import { waitFor } from './bastion-fixture';

const exec = (h: PodHandle, argv: string[], o: { stdin?: string; timeoutMs?: number; maxOutputBytes?: number } = {}) =>
  h.exec(argv, {
    stdin: o.stdin === undefined ? undefined : Buffer.from(o.stdin),
    timeoutMs: o.timeoutMs ?? 10_000,
    maxOutputBytes: o.maxOutputBytes ?? 1 << 20,
  });

describe('pod runtime', () => {
  let dir: string;
  let rt: PodRuntime;
  let a: PodHandle;
  let b: PodHandle;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kgpu-pods-test-'));
    rt = createPodRuntime({ stateDir: join(dir, 'pods') });
    const env = (id: string) => ({
      KGPU_API_TOKEN: `kgpu_pod_${id}.sig`,
      KGPU_API_BASE: 'http://127.0.0.1:9/v1',
      KGPU_GPU_ID: id,
      KGPU_RENT_ID: id,
      NVIDIA_VISIBLE_DEVICES: 'void',
    });
    [a, b] = await Promise.all([
      rt.create({ podId: 'pod-a', gpuModel: 'rtx3090', gpuCount: 1, env: env('pod-a'), diskLimitBytes: 1 << 30 }),
      rt.create({ podId: 'pod-b', gpuModel: 'rtx5090', gpuCount: 0, env: env('pod-b'), diskLimitBytes: 1 << 30 }),
    ]);
  });
  after(async () => {
    await rt.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives each pod its own /workspace, /tmp and PID namespace', async () => {
    writeFileSync(join(a.workspaceDir, 'only-a'), 'a');
    const ra = await exec(a, ['sh', '-c', 'pwd; ls /workspace; echo x > /tmp/a-tmp; ls /tmp; echo pid=$$; ps -e -o pid= | wc -l']);
    assert.equal(ra.exit_code, 0, ra.stderr);
    const lines = ra.stdout.trim().split('\n');
    assert.equal(lines[0], '/workspace');
    assert.equal(lines[1], 'only-a');
    assert.equal(lines[2], 'a-tmp');
    assert.ok(Number(lines[3].slice(4)) < 100, `a pod's shell has a small pid: ${lines[3]}`);
    assert.ok(Number(lines[4]) < 10, `the pod sees only its own processes: ${lines[4]}`);
    const rb = await exec(b, ['sh', '-c', 'ls -A /workspace /tmp; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.doesNotMatch(rb.stdout, /only-a|a-tmp/);
    assert.match(rb.stdout, /pod-init\.py pod-b rtx5090 0/);
    assert.equal(existsSync(join(a.workspaceDir, '..', 'tmp', 'a-tmp')), true, "the pod's /tmp is its own dir on the host");
  });

  it('provides the environment and the default image (python, setsid, tmux, sftp-server, nvidia-smi)', async () => {
    const r = await exec(a, [
      'sh',
      '-c',
      'echo $KGPU_API_TOKEN $KGPU_RENT_ID $NVIDIA_VISIBLE_DEVICES $HOME; python -c "import sys,os; print(os.path.realpath(sys.executable))"; command -v setsid; test -x /usr/lib/openssh/sftp-server && echo sftp-ok; nvidia-smi -L',
    ]);
    assert.equal(r.exit_code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'kgpu_pod_pod-a.sig pod-a void /workspace');
    assert.doesNotMatch(lines[1], /shims/, 'python is a real interpreter, not a pyenv shim');
    assert.ok(lines.includes('sftp-ok'));
    assert.match(r.stdout, /GPU 0: NVIDIA GeForce RTX 3090 .*\(simulated\)/);
    const none = await exec(b, ['nvidia-smi', '-L']);
    assert.equal(none.stdout.trim(), 'No devices were found');
    // A shell spawned for an interactive session does not see the token; /proc/1/environ has it.
    const p = a.spawn('echo tok=$KGPU_API_TOKEN; tr "\\0" "\\n" < /proc/1/environ | grep ^KGPU_API_TOKEN=', { stripToken: true });
    let out = '';
    p.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((resolve) => p.child.on('close', resolve));
    assert.equal(out, 'tok=\nKGPU_API_TOKEN=kgpu_pod_pod-a.sig\n');
  });

  it('runs tmux detached sessions that outlive the command', async () => {
    const r = await exec(a, [
      'sh',
      '-c',
      'command -v tmux >/dev/null || exit 99; tmux new -d -s train "echo from-tmux > /tmp/tmux.out; sleep 30"; echo started',
    ]);
    if (r.exit_code === 99) return; // tmux not installed on this machine (system-deps installs it)
    assert.equal(r.stdout, 'started\n', r.stderr);
    await waitFor('the tmux job', async () => (await exec(a, ['cat', '/tmp/tmux.out'])).stdout === 'from-tmux\n');
    const ls = await exec(a, ['tmux', 'ls']);
    assert.match(ls.stdout, /^train:/);
    await exec(a, ['tmux', 'kill-server']);
  });

  it('exec: argv without a shell, stdin, exit codes, missing commands', async () => {
    const argv = await exec(a, ['printf', '%s|', 'a b', '$HOME', '*']);
    assert.equal(argv.stdout, 'a b|$HOME|*|');
    const stdin = await exec(a, ['sh', '-c', 'wc -c; exit 3'], { stdin: 'hello' });
    assert.deepEqual([stdin.stdout.trim(), stdin.exit_code, stdin.truncated], ['5', 3, false]);
    const missing = await exec(a, ['no-such-command-kgpu']);
    assert.equal(missing.exit_code, 127);
    assert.match(missing.stderr, /no-such-command-kgpu/);
  });

  it("exec: what the command detaches keeps running after it returns (setsid -f, or a background job with its output redirected), as with Kubernetes' exec", async () => {
    const r = await exec(a, ['sh', '-c', 'sleep 300 >/dev/null 2>&1 & setsid -f sleep 301 </dev/null >/dev/null 2>&1; echo started']);
    assert.deepEqual([r.exit_code, r.stdout], [0, 'started\n'], r.stderr);
    const left = await exec(a, ['sh', '-c', 'pgrep -x sleep -a | sort']);
    assert.deepEqual(
      left.stdout
        .trim()
        .split('\n')
        .map((l) => l.replace(/^\d+ /, '')),
      ['sleep 300', 'sleep 301'],
    );
    await exec(a, ['pkill', '-x', 'sleep']);
  });

  it('exec: timeout kills the whole process group and returns partial output; output is capped', async () => {
    // Killed at the timeout, not after the 30 s sleep: 'never' is not printed, and the background
    // sleep dies with the group (below).
    const r = await exec(a, ['sh', '-c', 'echo partial; sleep 30 & sleep 30; echo never'], { timeoutMs: 300 });
    assert.equal(r.stdout, 'partial\n');
    assert.notEqual(r.exit_code, 0);
    assert.match(r.stderr, /timeout/);
    await waitFor(
      'the background sleep to die with the group',
      async () => !/sleep/.test((await exec(a, ['ps', '-e', '-o', 'comm='])).stdout),
      3000,
    );
    const big = await exec(a, ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" o; head -c 300000 /dev/zero | tr "\\0" e >&2'], {
      maxOutputBytes: 400_000,
    });
    assert.equal(big.truncated, true);
    assert.equal(big.stdout.length + big.stderr.length, 400_000);
    const exact = await exec(a, ['head', '-c', '1000', '/dev/zero'], { maxOutputBytes: 1000 });
    assert.equal(exact.truncated, false);
  });

  it('reports disk usage and load', async () => {
    const before = await a.diskUsageBytes();
    writeFileSync(join(a.workspaceDir, 'blob'), Buffer.alloc(2_000_000));
    await exec(a, ['sh', '-c', 'head -c 1000000 /dev/zero > /tmp/t.bin']);
    const afterBytes = await a.diskUsageBytes();
    assert.ok(afterBytes - before >= 3_000_000 && afterBytes - before < 3_100_000, `${before} → ${afterBytes}`);
    assert.equal(await b.isBusy(), false);
    const spin = b.spawn('exec python -c "while True: pass"');
    try {
      await waitFor('the busy probe to see the spinning process', () => b.isBusy());
    } finally {
      spin.child.kill('SIGKILL'); // nsenter; the command inside dies with it (pdeathsig)
    }
    await waitFor('the pod to go idle', async () => !(await b.isBusy()));
  });

  it('destroy kills detached jobs and removes the disk; idempotent', async () => {
    const c = await rt.create({ podId: 'pod-c', gpuModel: 'rtx4090', gpuCount: 1, env: {}, diskLimitBytes: 1 << 30 });
    const r = await exec(c, ['sh', '-c', 'setsid -f sleep 300 < /dev/null > /tmp/s.log 2>&1; echo started']);
    assert.equal(r.stdout, 'started\n');
    const pids = await waitFor('the detached job', () => {
      const p = hostPidsOfPod(c);
      return p.length >= 2 ? p : undefined;
    });
    await Promise.all([c.destroy(), c.destroy()]);
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `pid ${pid} survived`);
    assert.equal(existsSync(c.workspaceDir), false);
    await c.destroy();
    assert.throws(() => c.spawn('true'), /ended/);
    assert.equal((await c.exec(['true'], { timeoutMs: 1000, maxOutputBytes: 10 })).exit_code, 137);
  });
});

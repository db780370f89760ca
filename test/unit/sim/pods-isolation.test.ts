/**
 * The simulator's pods are isolated the way the contract says kgpu's are (issue 17), checked
 * through the real clients — OpenSSH through the bastion, REST exec, curl in the pod:
 * - network: no ingress, no pod-to-pod, no egress into private ranges; what a pod may reach (the
 *   API with its in-pod token, the presigned object URLs) works with the same URLs as outside;
 * - memory: the rent's `memory` is a hard limit — over it the kernel OOM-kills and the pod ends
 *   `evicted_by_kubelet:OOMKilled`; `cpu` is a CFS quota; cgroups go when pods end, when the
 *   simulator stops, and (a crashed simulator's) when the next one starts;
 * - /dev/nvidia* matches `nvidia-smi -L`; the default image has Debian's PyTorch & co.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../sim/index';
import { hostCgroupDirs } from '../../sim/pod-cgroups';
import { holdPodNamespace, hostPidsOfPod } from '../../sim/pods';
import { call, newKey, rentReady, startSim, waitFor, type TestKey } from './rest-fixture';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A program run without blocking the event loop (the simulator lives in this process). */
function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Connect to 127.0.0.1:port from this machine: 'refused', or what it answered. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => (got += d.toString()));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code ?? e.message}`));
    s.on('close', () => resolve(got.trim()));
  });
}

/** A Python one-liner client: prints what 127.0.0.1:<port> answers, or the error's name. */
const CLIENT = (port: number): string =>
  `python3 -c ${shq(`import socket\ntry:\n  s = socket.create_connection(("127.0.0.1", ${port}), timeout=5); print(s.recv(100).decode().strip())\nexcept OSError as e:\n  print(type(e).__name__)`)}`;

describe('simulated pods are isolated like kgpu pods', () => {
  let sim: Simulator;
  let keyA: TestKey;
  let keyB: TestKey;
  let podA: string;
  let podB: string;
  const ssh = (key: TestKey, command: string, timeoutMs?: number): Promise<Run> =>
    run(
      'ssh',
      [
        '-p',
        String(sim.sshPort),
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
        'LogLevel=ERROR',
        `kgpu@${sim.sshHost}`,
        command,
      ],
      timeoutMs,
    );

  const cleanups: (() => unknown)[] = [];
  before(async () => {
    // One simulator for the suite: its clean-ups run in after().
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as Parameters<typeof startSim>[0];
    sim = await startSim(t);
    keyA = newKey(t);
    keyB = newKey(t);
    [podA, podB] = await Promise.all([
      rentReady(sim, { gpu_model: 'v100', gpu_count: 2, ssh_pubkey: keyA.publicKey }),
      rentReady(sim, { gpu_model: 'rtx3090', gpu_count: 0, ssh_pubkey: keyB.publicKey }),
    ]);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('network: a listener in pod A answers only inside pod A (through our SSH and exec paths) — not this machine, not pod B', async () => {
    const server = [
      'import socket',
      's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 0)); s.listen(8)',
      'open("/tmp/port.tmp", "w").write(str(s.getsockname()[1])); __import__("os").rename("/tmp/port.tmp", "/tmp/port")',
      'while True:',
      '  c, _ = s.accept(); c.sendall(b"pod-a-secret\\n"); c.close()',
    ].join('\n');
    const start = await ssh(
      keyA,
      `setsid -f python3 -c ${shq(server)} < /dev/null > /tmp/server.log 2>&1; i=0; while [ ! -s /tmp/port ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; cat /tmp/port`,
    );
    assert.equal(start.code, 0, start.stderr);
    const port = Number(start.stdout.trim());
    assert.ok(port > 0, `the pod's listener port: ${start.stdout} ${start.stderr}`);

    // Our own paths into the pod reach it: an SSH exec and a REST exec running a client in the pod.
    const viaSsh = await ssh(keyA, CLIENT(port));
    assert.equal(viaSsh.stdout.trim(), 'pod-a-secret', viaSsh.stderr);
    const viaExec = await call(sim, 'POST', `/pods/${podA}/exec`, { body: { cmd: ['sh', '-c', CLIENT(port)] } });
    assert.equal(viaExec.body.stdout.trim(), 'pod-a-secret', viaExec.text);
    // Nothing inbound: not from this machine, not from another pod.
    // (Something of this machine may listen on the same port number: it must not be the pod's.)
    assert.notEqual(await tryConnect(port), 'pod-a-secret', 'this machine cannot reach the pod listener');
    const fromB = await ssh(keyB, CLIENT(port));
    assert.equal(fromB.stdout.trim(), 'ConnectionRefusedError', `pod B cannot reach pod A's listener: ${fromB.stdout} ${fromB.stderr}`);
    // The pod's own network: its loopback, up, and nothing else.
    const links = await ssh(keyA, `sed -n 's/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev | sort | tr '\\n' ' '`);
    assert.equal(links.stdout.trim(), 'lo');
  });

  it('network: egress into private ranges (RFC 1918, link-local metadata, CGNAT) and to this machine fails fast', async () => {
    const hostIps = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && i.family === 'IPv4' && !i.internal)
      .map((i) => i!.address);
    const targets = ['10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.169.254', '100.100.100.100', ...hostIps.slice(0, 2)];
    const probe = [
      'import socket, sys, time',
      'for ip in sys.argv[1:]:',
      '  t = time.monotonic()',
      '  try:',
      `    socket.create_connection((ip, ${sim.sshPort}), timeout=5).close(); r = "connected"`,
      '  except OSError as e:',
      '    r = type(e).__name__',
      '  print(ip, r, round((time.monotonic() - t) * 1000))',
    ].join('\n');
    const r = await ssh(keyA, `python3 -c ${shq(probe)} ${targets.join(' ')}`);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, targets.length, r.stdout);
    for (const line of lines) {
      const [ip, result, ms] = line.split(' ');
      assert.notEqual(result, 'connected', `${ip} must be unreachable from a pod`);
      assert.notEqual(result, 'TimeoutError', `${ip} must fail fast, not time out`);
      assert.ok(Number.isFinite(Number(ms)), line); // refused at once (not a 5 s TimeoutError): how fast is bench's
    }
  });

  it('network: what a pod may reach works with the same URLs as outside — the API with the in-pod token, presigned PUT/GET with curl (a custom header on the PUT is refused)', async () => {
    const me = await ssh(keyA, 'echo "$KGPU_API_BASE"; curl -fsS -H "Authorization: Bearer $KGPU_API_TOKEN" "$KGPU_API_BASE/me"');
    assert.equal(me.code, 0, me.stderr);
    const [base, body] = me.stdout.split('\n');
    assert.equal(base, sim.apiBase, 'the pod sees the same API base as this machine');
    assert.equal(JSON.parse(body).token_scope, 'pod');

    const obj = (await call(sim, 'POST', '/objects', { body: { label: 'in-pod' } })).body;
    const up = await ssh(
      keyA,
      `head -c 3000000 /dev/urandom > /tmp/data.bin; curl -sS -o /dev/null -w '%{http_code}\\n' -X PUT -H 'Content-Type: application/octet-stream' --upload-file /tmp/data.bin ${shq(obj.put_url)}; ` +
        `curl -fsS -X PUT --upload-file /tmp/data.bin ${shq(obj.put_url)} && echo uploaded; sha256sum /tmp/data.bin`,
    );
    assert.equal(up.code, 0, up.stderr);
    const [refused, uploaded, shaLine] = up.stdout.trim().split('\n');
    assert.deepEqual([refused, uploaded], ['403', 'uploaded'], 'a custom header breaks the signature; plain curl --upload-file works');
    const sha = shaLine.split(' ')[0];
    const getUrl = (await call(sim, 'GET', `/objects/${obj.object_id}`)).body.get_url as string;
    const here = Buffer.from(await (await fetch(getUrl)).arrayBuffer());
    assert.equal(createHash('sha256').update(here).digest('hex'), sha, 'the bytes uploaded from the pod');
    const down = await ssh(keyB, `curl -fsS -L -o /tmp/d ${shq(getUrl)} && sha256sum /tmp/d`);
    assert.equal(down.stdout.split(' ')[0], sha, down.stderr);
  });

  it('/dev/nvidia* lists what nvidia-smi -L lists (inert character devices); a CPU-only pod has none; the host /dev is not visible', async () => {
    const probe =
      'nvidia-smi -L | wc -l; ls /dev | grep "^nvidia" | tr "\\n" " "; echo; for d in /dev/nvidia*; do [ -c "$d" ] || echo "not a char device: $d"; done; ' +
      'python3 -c \'import os\ntry:\n  os.open("/dev/nvidia0", os.O_RDWR)\nexcept OSError as e:\n  print(e.strerror)\'; ls /dev/loop0 2>&1 | grep -c "No such"';
    const a = await ssh(keyA, probe);
    assert.equal(a.code, 0, a.stderr);
    const lines = a.stdout.trim().split('\n');
    assert.equal(lines[0], '2');
    assert.deepEqual(lines[1].trim().split(' ').sort(), [
      'nvidia-modeset',
      'nvidia-uvm',
      'nvidia-uvm-tools',
      'nvidia0',
      'nvidia1',
      'nvidiactl',
    ]);
    assert.equal(lines[2], 'No such device or address', 'opening a GPU device fails like a machine without the driver');
    assert.equal(lines[3], '1', "the machine's own devices are not in the pod");
    const b = await ssh(keyB, 'ls /dev | grep -c "^nvidia"; nvidia-smi -L');
    assert.deepEqual(b.stdout.trim().split('\n'), ['0', 'No devices were found']);
    const dev = await ssh(
      keyA,
      'echo hi > /dev/null && head -c 4 /dev/urandom | wc -c && test -d /dev/shm && test -c /dev/pts/ptmx && echo ok',
    );
    assert.deepEqual(dev.stdout.trim().split('\n'), ['4', 'ok'], dev.stderr);
  });

  it("the default image: Debian's PyTorch (CPU), scikit-learn, pandas, matplotlib, ipykernel, debugpy … for the pod's python", async () => {
    const r = await ssh(
      keyA,
      'python -c "import torch, sklearn, pandas, matplotlib, seaborn, scipy, numpy, ipykernel, jupyter_client, zmq, debugpy, tqdm; print(torch.tensor([1.0, 2.0]).sum().item())"; python -c "import os, sys; print(os.path.realpath(sys.executable))"; command -v zstd tmux',
      120_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '3.0');
    assert.equal(lines[1], '/usr/bin/python3.11', "Debian's python3");
    assert.equal(lines.length, 4, r.stdout);
  });

  it("memory: over the rent's memory the kernel OOM-kills and the pod ends evicted_by_kubelet:OOMKilled (Failed); cpu is a CFS quota; its cgroups go", async (t) => {
    const key = newKey(t);
    const id = await rentReady(sim, { gpu_model: 'v100', gpu_count: 0, memory: '96Mi', cpu: '0.5', ssh_pubkey: key.publicKey });
    const limits = await ssh(
      key,
      'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"',
    );
    assert.deepEqual(limits.stdout.trim().split('\n'), [String(96 * 2 ** 20), '50000 100000'], limits.stderr);
    const handle = sim.state.pods.get(id)!.handle!;
    const dirs = hostCgroupDirs(hostPidsOfPod(handle)[0]);
    assert.ok(dirs.length >= 1 && dirs.every((d) => d.includes('/kgpu-sim/') && existsSync(d)), `the pod's cgroups: ${dirs.join(', ')}`);
    // Under the limit is fine; a pod with the default 16Gi keeps running what a 96Mi one cannot.
    const small = await call(sim, 'POST', `/pods/${id}/exec`, {
      body: { cmd: ['python3', '-c', 'b = bytearray(32 << 20); print(len(b) >> 20)'] },
    });
    assert.equal(small.body.stdout, '32\n', small.text);
    const big = await call(sim, 'POST', `/pods/${podB}/exec`, {
      body: { cmd: ['python3', '-c', 'b = bytearray(200 << 20); b[-1] = 1; print("ok")'] },
    });
    assert.equal(big.body.stdout, 'ok\n', big.text);
    const oom = await call(sim, 'POST', `/pods/${id}/exec`, {
      body: { cmd: ['python3', '-c', 'b = bytearray(200 << 20); b[-1] = 1; print("survived")'] },
    });
    assert.equal(oom.status, 200, oom.text);
    assert.equal(oom.body.exit_code, 137, `SIGKILLed by the OOM killer: ${oom.text}`);
    assert.equal(oom.body.stdout, '');
    await waitFor(() => sim.state.pods.get(id)?.phase === 'Failed', 'the pod to end after the OOM kill');
    const pod = (await call(sim, 'GET', `/pods/${id}`)).body;
    assert.deepEqual([pod.phase, pod.end_reason], ['Failed', 'evicted_by_kubelet:OOMKilled']);
    assert.ok(
      dirs.every((d) => !existsSync(d)),
      'the cgroups are removed with the pod',
    );
    // The other pods are untouched.
    assert.equal(sim.state.pods.get(podB)?.phase, 'Running');
  });
});

describe('simulator pod clean-up', () => {
  it("stopping the simulator removes every pod's processes and cgroups; a crashed simulator's cgroups are removed (and what ran in them killed) when the next one starts", async (t) => {
    const sim = await startSim(t);
    const id = await rentReady(sim, { gpu_model: 'v100', gpu_count: 1, memory: '1Gi' });
    const handle = sim.state.pods.get(id)!.handle!;
    const pids = hostPidsOfPod(handle);
    const dirs = hostCgroupDirs(pids[0]);
    assert.ok(dirs.length >= 1 && dirs.every((d) => d.includes('/kgpu-sim/')), `the pod has its own cgroups: ${dirs.join(', ')}`);
    const runtimeDirs = dirs.map((d) => dirname(d));
    const roots = runtimeDirs.map((d) => dirname(d));
    const releaseNs = holdPodNamespace(handle);
    t.after(releaseNs);
    await sim.stop();
    assert.deepEqual(hostPidsOfPod(handle), [], 'no process of the pod is left');
    for (const d of [...dirs, ...runtimeDirs]) assert.equal(existsSync(d), false, `${d} is removed`);

    // A crashed simulator (its process gone) left a runtime folder with a process in a pod's cgroup.
    const dead = spawnSync('true').pid!;
    const stale = roots.map((r) => join(r, `${dead}.1.1`, 'gpu-stale-1-000000'));
    for (const d of stale) mkdirSync(d, { recursive: true });
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    const gone = new Promise((resolve) => sleeper.on('exit', resolve));
    writeFileSync(join(stale[0], 'cgroup.procs'), String(sleeper.pid));
    t.after(() => {
      sleeper.kill('SIGKILL');
      for (const d of stale) for (const x of [d, dirname(d)]) if (existsSync(x)) rmdirSync(x);
    });
    assert.match(readFileSync(`/proc/${sleeper.pid}/cgroup`, 'utf8'), /gpu-stale-1-000000/);
    const next = await startSim(t);
    await rentReady(next, { gpu_model: 'v100', gpu_count: 1 });
    await gone;
    await waitFor(() => stale.every((d) => !existsSync(dirname(d))), "the crashed simulator's cgroups to be removed");
    await next.stop();
  });
});

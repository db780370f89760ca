/**
 * End to end through startSimulator: rent over REST, then the real OpenSSH client into the pod;
 * the in-pod token works from inside; PATCH rotates the key; DELETE kills the pod's jobs and the
 * key gets `Permission denied (publickey)`; a server-minted key works too.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../sim/index';
import { hostPidsOfPod } from '../../sim/pods';
import { waitFor } from './bastion-fixture';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t = Date.now();
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t });
    });
  });
}

describe('bastion end to end through startSimulator', () => {
  let sim: Simulator;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kgpu-bastion-sim-'));
    sim = await startSimulator({ clockSpeed: 0 });
  });
  after(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = async (
    method: string,
    path: string,
    body?: unknown,
    token = sim.token,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await fetch(`${sim.apiBase}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const newKey = (name: string): { path: string; pub: string } => {
    const path = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
    return { path, pub: readFileSync(`${path}.pub`, 'utf8').trim() };
  };
  const ssh = (keyPath: string, command: string): Promise<Run> =>
    run('ssh', [
      '-p',
      String(sim.sshPort),
      '-i',
      keyPath,
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
    ]);
  const rentReady = async (body: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const r = await api('POST', '/pods', body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const id = r.body.pod_id as string;
    await waitFor(`pod ${id} ready`, async () => (await api('GET', `/pods/${id}`)).body.ready === true);
    return r.body;
  };

  it('uses the real pod runtime and bastion', () => {
    assert.equal(sim.runtimeKind, 'pods');
    assert.ok(sim.sshPort > 0);
  });

  it('rent → ssh → in-pod token → rotate → release → Permission denied, jobs gone', async () => {
    const k1 = newKey('k1');
    const rent = await rentReady({ gpu_model: 'rtx3090', ssh_pubkey: k1.pub });
    const podId = rent.pod_id as string;
    const r = await ssh(
      k1.path,
      'nvidia-smi -L; echo $KGPU_RENT_ID; curl -sS -H "Authorization: Bearer $KGPU_API_TOKEN" "$KGPU_API_BASE/pods/$KGPU_RENT_ID"',
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /RTX 3090.*\(simulated\)/);
    assert.equal(lines[1], podId);
    assert.equal((JSON.parse(lines[2]) as { pod_id: string }).pod_id, podId, 'the in-pod token reads its own pod');

    // The job ticks only once /tmp/go exists, which the test makes after the exec returned: the
    // return proves setsid -f did not wait for the job (no clock involved).
    const job = await ssh(
      k1.path,
      'setsid -f sh -c "while [ ! -e /tmp/go ]; do sleep 0.05; done; while :; do date +%s%N >> /tmp/tick.log; sleep 0.05; done" < /dev/null > /dev/null 2>&1',
    );
    assert.equal(job.code, 0, job.stderr);
    const handle = sim.state.pods.get(podId)?.handle;
    assert.ok(handle);
    const jobPids = await waitFor('the job in the host process table', () => {
      const p = hostPidsOfPod(handle);
      return p.length >= 2 ? p : undefined;
    });
    const gated = await ssh(k1.path, 'test -e /tmp/tick.log && echo ticked; touch /tmp/go');
    assert.equal(gated.code, 0, gated.stderr);
    assert.equal(gated.stdout, '', 'the job waited at its gate until after the exec returned');

    const k2 = newKey('k2');
    const patch = await api('PATCH', `/pods/${podId}`, { ssh_pubkey: k2.pub });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    const old = await ssh(k1.path, 'true');
    assert.match(old.stderr, /Permission denied \(publickey\)/);
    await waitFor(
      'the detached job to tick (reached over the new key)',
      async () => (await ssh(k2.path, 'test -s /tmp/tick.log && echo ticking')).stdout === 'ticking\n',
      60_000,
    );

    const del = await api('DELETE', `/pods/${podId}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await sim.settled();
    const denied = await ssh(k2.path, 'true');
    assert.equal(denied.code, 255);
    assert.match(denied.stderr, /Permission denied \(publickey\)/);
    for (const pid of jobPids) assert.equal(existsSync(`/proc/${pid}`), false, `pod process ${pid} survived the release`);
    assert.equal(existsSync(handle.workspaceDir), false);
    assert.equal((await api('GET', `/pods/${podId}`)).body.end_reason, 'returned');
  });

  it('SSH activity resets the idle clock', async () => {
    const k = newKey('k-idle');
    const rent = await rentReady({ gpu_model: 'v100', ssh_pubkey: k.pub });
    const id = rent.pod_id as string;
    await sim.clock.advance(13 * 3600_000);
    const warned = (await api('GET', `/pods/${id}`)).body;
    assert.equal(warned.idle_warning, true);
    assert.ok((warned.idle_seconds as number) >= 13 * 3600);
    const r = await ssh(k.path, 'true');
    assert.equal(r.code, 0, r.stderr);
    const after = (await api('GET', `/pods/${id}`)).body;
    assert.equal(after.idle_warning, false);
    assert.equal(after.idle_seconds, 0);
  });

  it('a server-minted private key works with OpenSSH', async () => {
    const rent = await rentReady({ gpu_model: 'rtx3080' });
    const access = rent.ssh_access as { private_key: string; ssh_port: number; ssh_user: string };
    assert.equal(access.ssh_user, 'kgpu');
    assert.equal(access.ssh_port, sim.sshPort);
    const keyPath = join(dir, 'minted');
    writeFileSync(keyPath, access.private_key, { mode: 0o600 });
    const r = await ssh(keyPath, 'pwd');
    assert.deepEqual([r.code, r.stdout], [0, '/workspace\n'], r.stderr);
  });
});

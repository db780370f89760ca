// Simulator REST: POST /pods — defaults, pod ids, ssh_access both ways, every validation 422,
// 402, the 4-GPU cap and capacity 409s, duplicate keys, free counts, unknown images.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertError, call, newKey, startSim } from './rest-fixture';

test('POST /pods with an empty body rents the contract defaults', async (t) => {
  const sim = await startSim(t, { credits: 100_000 });
  const before = sim.clock.now();
  const r = await call(sim, 'POST', '/pods', { body: {} });
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.pod_id, /^gpu-rent-\d{10}-[0-9a-f]{6}$/);
  assert.equal(Number(r.body.pod_id.split('-')[2]), Math.floor(before / 1000));
  assert.equal(r.body.gpu_model, 'rtx4090');
  assert.equal(r.body.price_per_hour_credits, 1000);
  // Per-minute billing in advance: the first minute (1000/60) is taken at once.
  assert.equal(r.body.balance_after_precheck, Math.round((100_000 - 1000 / 60) * 1e6) / 1e6);
  const pod = (await call(sim, 'GET', `/pods/${r.body.pod_id}`)).body;
  assert.deepEqual(
    {
      name: pod.name,
      image: pod.image,
      gpu_model: pod.gpu_model,
      gpu_count: pod.gpu_count,
      cpu: pod.cpu,
      memory: pod.memory,
      ephemeral_storage_gib: pod.ephemeral_storage_gib,
    },
    {
      name: 'rent',
      image: 'kgpu-pytorch:latest',
      gpu_model: 'rtx4090',
      gpu_count: 1,
      cpu: '2',
      memory: '16Gi',
      ephemeral_storage_gib: 100,
    },
  );
  // No body at all behaves the same.
  const nobody = await call(sim, 'POST', '/pods', { body: undefined });
  assertError(nobody, 409, 'no_capacity'); // the only rtx4090 is taken: defaults were applied
});

test('ssh_pubkey given → fingerprint only (matches ssh-keygen -lf); omitted → a minted ed25519 private key, once', async (t) => {
  const sim = await startSim(t);
  const key = newKey(t);
  const byo = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', ssh_pubkey: key.publicKey } });
  assert.equal(byo.status, 200, byo.text);
  assert.deepEqual(byo.body.ssh_access, { fingerprint: key.fingerprint, ssh_host: sim.sshHost, ssh_port: sim.sshPort, ssh_user: 'kgpu' });
  assert.ok(!('private_key' in byo.body.ssh_access));

  const minted = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', name: 'minted' } });
  const sa = minted.body.ssh_access;
  assert.match(sa.private_key, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  assert.equal(sa.ssh_user, 'kgpu');
  assert.equal(sa.ssh_host, sim.sshHost);
  assert.equal(sa.ssh_port, sim.sshPort);
  // The fingerprint is that of the minted key, as OpenSSH computes it.
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-minted-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'k'), sa.private_key, { mode: 0o600 });
  const pub = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'k')], { encoding: 'utf8' });
  assert.match(pub, /^ssh-ed25519 /);
  writeFileSync(join(dir, 'k.pub'), pub);
  assert.equal(execFileSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1], sa.fingerprint);
  // Shown once: the pod never shows the private key again.
  const again = await call(sim, 'GET', `/pods/${minted.body.pod_id}`);
  assert.equal(again.body.ssh_fingerprint, sa.fingerprint);
  assert.ok(!again.text.includes('PRIVATE KEY'));
  assert.ok(!(await call(sim, 'GET', '/pods')).text.includes('PRIVATE KEY'));
});

test('each invalid field is a 422 validation_failed naming the field', async (t) => {
  const sim = await startSim(t);
  const cases: [Record<string, unknown>, string][] = [
    [{ name: 'Has_Upper' }, 'name'],
    [{ name: '-lead' }, 'name'],
    [{ name: 'a'.repeat(31) }, 'name'],
    [{ name: 7 }, 'name'],
    [{ gpu_count: 5 }, 'gpu_count'],
    [{ gpu_count: -1 }, 'gpu_count'],
    [{ gpu_count: 1.5 }, 'gpu_count'],
    [{ gpu_count: '1' }, 'gpu_count'],
    [{ cpu: '17' }, 'cpu'],
    [{ cpu: 'lots' }, 'cpu'],
    [{ cpu: '0' }, 'cpu'],
    [{ memory: '129Gi' }, 'memory'],
    [{ memory: '131073Mi' }, 'memory'],
    [{ memory: '16GB' }, 'memory'],
    [{ memory: 16 }, 'memory'],
    [{ ephemeral_storage_gib: 0 }, 'ephemeral_storage_gib'],
    [{ ephemeral_storage_gib: 2001 }, 'ephemeral_storage_gib'],
    [{ ephemeral_storage_gib: '100' }, 'ephemeral_storage_gib'],
    [{ gpu_model: 'h100' }, 'gpu_model'],
    [{ gpu_model: 5 }, 'gpu_model'],
    [{ env: ['A=1'] }, 'env'],
    [{ env: { A: 1 } }, 'env'],
    [{ env: { 'BAD NAME': 'x' } }, 'env'],
    [{ env: 'A=1' }, 'env'],
    [{ ssh_pubkey: 'ssh-ed25519 notbase64!!' }, 'ssh_pubkey'],
    [{ ssh_pubkey: 'hello' }, 'ssh_pubkey'],
    [{ ssh_pubkey: 42 }, 'ssh_pubkey'],
    [{ image: '' }, 'image'],
    [{ image: 3 }, 'image'],
  ];
  for (const [body, field] of cases) {
    const r = await call(sim, 'POST', '/pods', { body });
    assertError(r, 422, 'validation_failed', field);
    assert.ok(r.body.message.includes(field) || field === 'env', `message names ${field}: ${r.body.message}`);
  }
  // Limits themselves are accepted.
  const edge = await call(sim, 'POST', '/pods', {
    body: {
      name: 'a'.repeat(30),
      gpu_model: 'v100',
      gpu_count: 0,
      cpu: '16',
      memory: '128Gi',
      ephemeral_storage_gib: 2000,
      env: { A: '1' },
    },
  });
  assert.equal(edge.status, 200, edge.text);
  const mi = await call(sim, 'POST', '/pods', {
    body: { name: 'mem', gpu_model: 'v100', gpu_count: 0, cpu: 0.5, memory: '512Mi', ephemeral_storage_gib: 1 },
  });
  assert.equal(mi.status, 200, mi.text);
  assert.equal((await call(sim, 'GET', `/pods/${mi.body.pod_id}`)).body.cpu, '0.5');
  assert.equal(sim.state.pods.size, 2, 'no invalid request rented anything');
});

test('402 insufficient_credits when the first minute cannot be paid', async (t) => {
  const sim = await startSim(t, { credits: 10 });
  const r = await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx4090' } }); // 16.67 per minute
  assertError(r, 402, 'insufficient_credits');
  assert.equal(r.body.balance, 10);
  assert.equal(r.body.needed_per_hour, 1000);
  // 300/h = 5 per minute: affordable.
  const ok = await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3080' } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.balance_after_precheck, 5);
});

test('409 quota_exceeded over 4 concurrent GPUs, 409 no_capacity over the free count; free counts drop and recover', async (t) => {
  const sim = await startSim(t);
  const a = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', gpu_count: 3 } });
  assert.equal(a.status, 200);
  const free = async (m: string): Promise<number> =>
    (await call(sim, 'GET', '/gpu-models', { token: null })).body.find((x: { gpu_model: string }) => x.gpu_model === m).free;
  assert.equal(await free('v100'), 1);
  const cap = await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3090', gpu_count: 2 } });
  assertError(cap, 409, 'quota_exceeded');
  assert.equal(cap.body.gpus_in_use, 3);
  assert.equal(cap.body.max_gpus, 4);
  // A 0-GPU pod does not count against the GPU cap.
  assert.equal((await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3090', gpu_count: 0, name: 'cpu' } })).status, 200);
  const one = await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3090', gpu_count: 1, name: 'one' } });
  assert.equal(one.status, 200);
  assertError(await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3090', gpu_count: 1 } }), 409, 'quota_exceeded');
  // Capacity is per model, across accounts.
  const b = sim.addAccount();
  const noCap = await call(sim, 'POST', '/pods', { token: b.token, body: { gpu_model: 'v100', gpu_count: 2 } });
  assertError(noCap, 409, 'no_capacity');
  assert.equal(noCap.body.free, 1);
  assert.equal((await call(sim, 'POST', '/pods', { token: b.token, body: { gpu_model: 'v100', gpu_count: 1 } })).status, 200);
  assert.equal(await free('v100'), 0);
  assert.equal((await call(sim, 'DELETE', `/pods/${a.body.pod_id}`)).status, 200);
  assert.equal(await free('v100'), 3);
});

test('a public key already pinned to a live rental is a 409 duplicate_key; free again after release', async (t) => {
  const sim = await startSim(t);
  const key = newKey(t);
  const a = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', ssh_pubkey: key.publicKey } });
  assertError(
    await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', ssh_pubkey: key.publicKey } }),
    409,
    'duplicate_key',
    'ssh_pubkey',
  );
  await call(sim, 'DELETE', `/pods/${a.body.pod_id}`);
  assert.equal((await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', ssh_pubkey: key.publicKey } })).status, 200);
});

test('an unknown image: Pending ImagePullBackOff, then start_failed after 5 simulated minutes, credits refunded', async (t) => {
  const sim = await startSim(t, { credits: 1000 });
  const r = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', image: 'ghcr.io/nobody/nothing:9' } });
  assert.equal(r.status, 200, r.text);
  const id = r.body.pod_id;
  let pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.phase, 'Pending');
  assert.equal(pod.ready, false);
  assert.match(pod.pending_reason, /^ImagePullBackOff: .*ghcr\.io\/nobody\/nothing:9/);
  await sim.clock.advance(4 * 60_000);
  pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.phase, 'Pending');
  assert.equal(pod.credits_spent, 50, '5 minutes at 600/h billed while pending');
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 950);
  await sim.clock.advance(60_000);
  pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.end_reason, 'start_failed:ImagePullBackOff');
  assert.equal(pod.phase, 'Ended');
  assert.equal(pod.ready, false);
  assert.equal(pod.ended_at, new Date(sim.state.pods.get(id)!.created_at + 5 * 60_000).toISOString());
  assert.equal(pod.refunded_credits, 50);
  assert.equal(pod.credits_spent, 0);
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 1000, 'refunded in full');
  assert.equal(
    (await call(sim, 'GET', '/gpu-models', { token: null })).body.find((m: { gpu_model: string }) => m.gpu_model === 'v100').free,
    4,
  );
});

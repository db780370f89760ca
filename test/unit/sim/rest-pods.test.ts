// Simulator REST: pod lifecycle (Pending → Running/ready after the cold start → Terminating →
// Ended), GET /pods order, 404s, DELETE idempotence, PATCH key rotation as the bastion sees it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertError, call, newKey, rentReady, startSim, waitFor } from './rest-fixture';

const r6 = (n: number): number => Math.round(n * 1e6) / 1e6;

test('a pod is Pending ("starting") through its cold start, then Running and ready', async (t) => {
  const sim = await startSim(t, { coldStartMs: 30_000 });
  const r = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100' } });
  assert.equal(r.body.phase, 'Pending');
  const id = r.body.pod_id;
  let pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.phase, 'Pending');
  assert.equal(pod.ready, false);
  assert.equal(pod.pending_reason, 'starting');
  assert.equal(pod.ended_at, null);
  assert.equal(pod.end_reason, null);
  assert.equal(pod.idle_seconds, null);
  assertError(await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['true'] } }), 409, 'pod_not_ready');
  // The runtime is up long before the simulated cold start ends: still Pending.
  await sim.settled();
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.phase, 'Pending');
  assert.equal(sim.state.podForFingerprint(pod.ssh_fingerprint), undefined, 'the bastion does not route to a pod that is not ready');
  await sim.clock.advance(29_999);
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.ready, false);
  await sim.clock.advance(1);
  pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.phase, 'Running');
  assert.equal(pod.ready, true);
  assert.equal(pod.pending_reason, null);
  assert.equal(pod.idle_seconds, 0);
  assert.equal(pod.idle_warning, false);
  assert.equal(pod.ready_at, new Date(sim.state.pods.get(id)!.created_at + 30_000).toISOString());
  assert.equal(sim.state.podForFingerprint(pod.ssh_fingerprint)?.podId, id);
});

test('GET /pods lists newest first, ended pods included; unknown ids are 404', async (t) => {
  const sim = await startSim(t);
  const ids: string[] = [];
  for (const name of ['first', 'second', 'third']) {
    ids.push((await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', name } })).body.pod_id);
    await sim.clock.advance(1000);
  }
  await call(sim, 'DELETE', `/pods/${ids[1]}`);
  const list = await call(sim, 'GET', '/pods');
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.map((p: { pod_id: string }) => p.pod_id),
    [...ids].reverse(),
  );
  assert.equal(list.body[1].end_reason, 'returned');
  assertError(await call(sim, 'GET', '/pods/gpu-nope-1-abcdef'), 404, 'not_found');
  assertError(await call(sim, 'DELETE', '/pods/gpu-nope-1-abcdef'), 404, 'not_found');
  assertError(await call(sim, 'PATCH', '/pods/gpu-nope-1-abcdef', { body: {} }), 404, 'not_found');
  assertError(await call(sim, 'POST', '/pods/gpu-nope-1-abcdef/exec', { body: { cmd: ['true'] } }), 404, 'not_found');
});

test('DELETE releases (returned): processes and disk gone, key unpinned, GPUs freed; a second DELETE answers the same record', async (t) => {
  const sim = await startSim(t);
  const key = newKey(t);
  const id = await rentReady(sim, { gpu_model: 'rtx5090', ssh_pubkey: key.publicKey });
  const handle = sim.state.podForFingerprint(key.fingerprint)?.handle;
  assert.ok(handle, 'the key routes to the pod while it lives');
  await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['sh', '-c', 'echo data > /workspace/f'] } });
  await sim.clock.advance(90_000);
  const del = await call(sim, 'DELETE', `/pods/${id}`);
  assert.equal(del.status, 200);
  assert.equal(del.body.pod_id, id);
  assert.equal(del.body.phase, 'Ended');
  assert.equal(del.body.end_reason, 'returned');
  assert.equal(del.body.ended_at, new Date(sim.clock.now()).toISOString());
  assert.equal(del.body.ready, false);
  assert.equal(del.body.ssh_fingerprint, null);
  assert.equal(sim.state.podForFingerprint(key.fingerprint), undefined, 'the bastion refuses the key now');
  assert.equal(await handle.diskUsageBytes(), 0, 'its disk is gone');
  const again = await call(sim, 'DELETE', `/pods/${id}`);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, del.body);
  const get = await call(sim, 'GET', `/pods/${id}`);
  assert.equal(get.body.phase, 'Ended');
  assert.equal(get.body.credits_spent, r6((1400 / 60) * 2), 'two minutes billed, nothing after the release');
  await sim.clock.advance(10 * 60_000);
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.credits_spent, r6((1400 / 60) * 2));
  assert.equal(
    (await call(sim, 'GET', '/gpu-models', { token: null })).body.find((m: { gpu_model: string }) => m.gpu_model === 'rtx5090').free,
    1,
  );
});

test('a release shows Terminating while the pod tears down, then Ended', async (t) => {
  const sim = await startSim(t);
  const id = await rentReady(sim, { gpu_model: 'v100' });
  const pending = sim.endPod(id, 'returned');
  const mid = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(mid.phase, 'Terminating');
  assert.equal(mid.end_reason, 'returned');
  assert.notEqual(mid.ended_at, null);
  await pending;
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.phase, 'Ended');
});

test('PATCH rotates the key: a new pubkey is pinned (fingerprint only), an empty body mints a pair; the old key stops routing at once', async (t) => {
  const sim = await startSim(t);
  const k1 = newKey(t);
  const k2 = newKey(t);
  const id = await rentReady(sim, { gpu_model: 'v100', ssh_pubkey: k1.publicKey });
  assert.equal(sim.state.podForFingerprint(k1.fingerprint)?.podId, id);

  const p1 = await call(sim, 'PATCH', `/pods/${id}`, { body: { ssh_pubkey: k2.publicKey } });
  assert.equal(p1.status, 200, p1.text);
  assert.deepEqual(p1.body, {
    pod_id: id,
    ssh_access: { fingerprint: k2.fingerprint, ssh_host: sim.sshHost, ssh_port: sim.sshPort, ssh_user: 'kgpu' },
  });
  assert.equal(sim.state.podForFingerprint(k1.fingerprint), undefined);
  assert.equal(sim.state.podForFingerprint(k2.fingerprint)?.podId, id);
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.ssh_fingerprint, k2.fingerprint);

  const p2 = await call(sim, 'PATCH', `/pods/${id}`);
  assert.equal(p2.status, 200, p2.text);
  assert.match(p2.body.ssh_access.private_key, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  assert.equal(sim.state.podForFingerprint(k2.fingerprint), undefined);
  assert.equal(sim.state.podForFingerprint(p2.body.ssh_access.fingerprint)?.podId, id);

  assertError(await call(sim, 'PATCH', `/pods/${id}`, { body: { ssh_pubkey: 'nope' } }), 422, 'validation_failed', 'ssh_pubkey');
  assertError(await call(sim, 'PATCH', `/pods/${id}`, { body: { ssh_pubkey: ['x'] } }), 422, 'validation_failed', 'ssh_pubkey');
  // A key pinned to another live rental is refused.
  const k3 = newKey(t);
  await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', name: 'other', ssh_pubkey: k3.publicKey } });
  assertError(await call(sim, 'PATCH', `/pods/${id}`, { body: { ssh_pubkey: k3.publicKey } }), 409, 'duplicate_key', 'ssh_pubkey');
  await call(sim, 'DELETE', `/pods/${id}`);
  assertError(await call(sim, 'PATCH', `/pods/${id}`, { body: {} }), 409, 'pod_ended');
});

test('a pod whose disk outgrows ephemeral_storage_gib is evicted (OutOfephemeral-storage, Failed)', async (t) => {
  // 1 "GiB" = 64 KiB here, so 2 "GiB" is a tiny 128 KiB; the periodic check runs every 50 ms of wall time.
  const sim = await startSim(t, { diskBytesPerGib: 64 * 1024, diskCheckIntervalMs: 50 });
  const small = await rentReady(sim, { gpu_model: 'v100', name: 'small', ephemeral_storage_gib: 2 });
  const big = await rentReady(sim, { gpu_model: 'v100', name: 'big', ephemeral_storage_gib: 2 });
  await call(sim, 'POST', `/pods/${small}/exec`, { body: { cmd: ['sh', '-c', 'head -c 40000 /dev/zero > /workspace/ok'] } });
  await call(sim, 'POST', `/pods/${big}/exec`, { body: { cmd: ['sh', '-c', 'head -c 200000 /dev/zero > /tmp/too-much'] } });
  await sim.state.checkDisks();
  const pod = (await call(sim, 'GET', `/pods/${big}`)).body;
  assert.equal(pod.end_reason, 'evicted_by_kubelet:OutOfephemeral-storage');
  assert.equal(pod.phase, 'Failed');
  assert.equal((await call(sim, 'GET', `/pods/${small}`)).body.phase, 'Running', 'a pod within its limit stays');
  // And the periodic check finds a pod that fills up later, with no explicit call.
  await call(sim, 'POST', `/pods/${small}/exec`, { body: { cmd: ['sh', '-c', 'head -c 200000 /dev/zero > /workspace/more'] } });
  await waitFor(
    () => sim.state.pods.get(small)?.end_reason === 'evicted_by_kubelet:OutOfephemeral-storage',
    'the periodic disk check to evict the pod',
  );
});

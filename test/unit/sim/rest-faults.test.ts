// Simulator REST: fault injection — failing, delaying and dropping requests by route, ending pods
// with any contract end_reason, and the --faults spec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndReason } from '../../sim/contracts';
import { parseFaultSpec, pathRegex } from '../../sim/faults';
import { assertError, call, newKey, rentReady, startSim } from './rest-fixture';

test('failNext: the next N matching requests fail with the status (5xx bodies carry trace_id), then it serves again', async (t) => {
  const sim = await startSim(t);
  sim.faults.failNext('POST', '/pods', 503, { count: 2 });
  for (let i = 0; i < 2; i++) {
    const r = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100' } });
    assertError(r, 503, 'service_unavailable');
    assert.equal(r.body.trace_id, r.requestId);
  }
  assert.equal(sim.state.pods.size, 0, 'a failed request rented nothing');
  assert.equal((await call(sim, 'GET', '/pods')).status, 200, 'other routes are untouched');
  const ok = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100' } });
  assert.equal(ok.status, 200);
  sim.faults.failNext('GET', '/pods/*', 429, { error: 'rate_limited' });
  assertError(await call(sim, 'GET', `/pods/${ok.body.pod_id}`), 429, 'rate_limited');
  assert.equal((await call(sim, 'GET', `/pods/${ok.body.pod_id}`)).status, 200);
  sim.faults.failNext('*', '/**', 500);
  const any = await call(sim, 'GET', '/gpu-models', { token: null });
  assertError(any, 500, 'internal_error');
  assert.equal(sim.faults.counters.failed, 4);
});

test('addLatency delays only the matching route; dropNext closes the connection without an answer', async (t) => {
  const sim = await startSim(t);
  sim.faults.addLatency('GET', '/me', 300);
  const t0 = Date.now();
  assert.equal((await call(sim, 'GET', '/me')).status, 200);
  assert.ok(Date.now() - t0 >= 290, 'delayed');
  // Another route is not delayed: it answers while a (now 3.3 s) delayed /me is still in flight
  // (an order, not a speed goal).
  sim.faults.addLatency('GET', '/me', 3_000, { count: 1 });
  let meAnswered = false;
  const me = call(sim, 'GET', '/me').then((r) => ((meAnswered = true), r));
  assert.equal((await call(sim, 'GET', '/balance')).status, 200);
  assert.equal(meAnswered, false, 'another route is not delayed');
  assert.equal((await me).status, 200);
  sim.faults.clear();

  sim.faults.dropNext('GET', '/pods');
  await assert.rejects(fetch(`${sim.apiBase}/pods`, { headers: { Authorization: `Bearer ${sim.token}` } }), TypeError);
  assert.equal((await call(sim, 'GET', '/pods')).status, 200, 'the next one is answered');
  assert.equal(sim.faults.counters.dropped, 1);
});

test('faults.endPod ends a pod now with any contract end_reason: processes and disk gone, key refused', async (t) => {
  const sim = await startSim(t, { credits: 1e6 });
  const reasons: [EndReason, string][] = [
    ['evicted_by_kubelet:OOMKilled', 'Failed'],
    ['evicted_by_kubelet:OutOfephemeral-storage', 'Failed'],
    ['auto_idle', 'Ended'],
    ['out_of_credits', 'Ended'],
  ];
  for (const [reason, phase] of reasons) {
    const key = newKey(t);
    const id = await rentReady(sim, { gpu_model: 'v100', ssh_pubkey: key.publicKey });
    const handle = sim.state.podForFingerprint(key.fingerprint)!.handle;
    await sim.faults.endPod(id, reason);
    const pod = (await call(sim, 'GET', `/pods/${id}`)).body;
    assert.equal(pod.end_reason, reason);
    assert.equal(pod.phase, phase, reason);
    assert.equal(pod.ready, false);
    assert.equal(sim.state.podForFingerprint(key.fingerprint), undefined);
    assert.equal(await handle.diskUsageBytes(), 0);
  }
  await assert.rejects(sim.faults.endPod('gpu-nope-1-000000', 'returned'), /no pod/);
});

test('--faults spec strings and JSON parse into rules; a simulator started with them applies them', async (t) => {
  assert.deepEqual(parseFaultSpec('fail:POST /pods:503:2:busy, latency:GET /pods/*:800, drop:/me'), [
    { type: 'fail', method: 'POST', path: '/pods', status: 503, count: 2, error: 'busy' },
    { type: 'latency', method: 'GET', path: '/pods/*', ms: 800, count: Infinity },
    { type: 'drop', method: '*', path: '/me', count: undefined },
  ]);
  assert.deepEqual(parseFaultSpec('[{"type":"fail","path":"/me","status":500}]'), [{ type: 'fail', path: '/me', status: 500 }]);
  assert.throws(() => parseFaultSpec('explode:/me'), /unknown fault type/);
  assert.ok(pathRegex('/pods/*').test('/v1/pods/gpu-a-1-abcdef'));
  assert.ok(!pathRegex('/pods/*').test('/v1/pods/gpu-a-1-abcdef/exec'));
  assert.ok(pathRegex('/pods/**').test('/v1/pods/gpu-a-1-abcdef/exec'));

  const sim = await startSim(t, { faults: 'fail:GET /balance:502' });
  assertError(await call(sim, 'GET', '/balance'), 502, 'bad_gateway');
  assert.equal((await call(sim, 'GET', '/balance')).status, 200);
});

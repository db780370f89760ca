// Simulator REST: public /gpu-models, bearer auth (missing/invalid/revoked/reissued, unapproved
// accounts), /me, /balance, /cluster, the in-pod token's scope, state-dir token persistence,
// fleet files, clock speed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startSimulator } from '../../sim/index';
import { assertError, call, rentReady, startSim, waitFor } from './rest-fixture';

test('GET /gpu-models is public and lists the contract fleet with exact prices', async (t) => {
  const sim = await startSim(t);
  const r = await call(sim, 'GET', '/gpu-models', { token: null });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, [
    { gpu_model: 'rtx3080', total: 1, free: 1, price_per_hour_credits: 300 },
    { gpu_model: 'rtx3090', total: 2, free: 2, price_per_hour_credits: 600 },
    { gpu_model: 'rtx4090', total: 1, free: 1, price_per_hour_credits: 1000 },
    { gpu_model: 'rtx5090', total: 1, free: 1, price_per_hour_credits: 1400 },
    { gpu_model: 'v100', total: 4, free: 4, price_per_hour_credits: 600 },
  ]);
});

test('a custom fleet (models + images) replaces the default one', async (t) => {
  const sim = await startSim(t, {
    fleet: { models: [{ gpu_model: 'b200', total: 8, price_per_hour_credits: 5000 }], images: ['ghcr.io/acme/train:1'] },
  });
  const r = await call(sim, 'GET', '/gpu-models', { token: null });
  assert.deepEqual(r.body, [{ gpu_model: 'b200', total: 8, free: 8, price_per_hour_credits: 5000 }]);
  const rent = await call(sim, 'POST', '/pods', { body: { gpu_model: 'b200', image: 'ghcr.io/acme/train:1' } });
  assert.equal(rent.status, 200, rent.text);
  assert.equal(rent.body.price_per_hour_credits, 5000);
  assert.equal(sim.state.pods.get(rent.body.pod_id)?.pending_reason, 'starting', 'a fleet image pulls fine');
});

test('every authenticated endpoint answers 401 without, with a bad, or with a revoked token', async (t) => {
  const sim = await startSim(t);
  for (const [method, path] of [
    ['GET', '/me'],
    ['GET', '/balance'],
    ['GET', '/cluster'],
    ['GET', '/pods'],
    ['POST', '/pods'],
    ['GET', '/pods/x'],
    ['PATCH', '/pods/x'],
    ['DELETE', '/pods/x'],
    ['POST', '/pods/x/exec'],
    ['GET', '/objects'],
    ['POST', '/objects'],
    ['GET', '/objects/x'],
    ['DELETE', '/objects/x'],
  ] as const) {
    const none = await call(sim, method, path, { token: null });
    assertError(none, 401, 'unauthorized');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assertError(await call(sim, method, path, { token: 'kgpu_notatoken' }), 401, 'invalid_token');
  }
  assertError(await call(sim, 'GET', '/me', { token: null, headers: { Authorization: 'Basic Zm9vOmJhcg==' } }), 401, 'unauthorized');

  const old = sim.token;
  assert.equal((await call(sim, 'GET', '/me', { token: old })).status, 200);
  const fresh = sim.reissueToken();
  assert.notEqual(fresh, old);
  assert.equal(sim.token, fresh);
  const revoked = await call(sim, 'GET', '/me', { token: old });
  assertError(revoked, 401, 'invalid_token');
  assert.match(revoked.body.message, /revoked/);
  assert.equal((await call(sim, 'GET', '/me', { token: fresh })).status, 200);
});

test('an account that is not approved gets 401 account_not_approved', async (t) => {
  const sim = await startSim(t);
  sim.state.primary.status = 'pending';
  assertError(await call(sim, 'GET', '/me'), 401, 'account_not_approved');
});

test('GET /me, /balance and /cluster carry the contract fields', async (t) => {
  const sim = await startSim(t, { credits: 12_345 });
  const me = await call(sim, 'GET', '/me');
  assert.equal(me.status, 200);
  for (const k of ['user_id', 'email', 'name', 'role', 'status', 'credits', 'quota']) assert.ok(k in me.body, `/me has ${k}`);
  assert.equal(me.body.credits, 12_345);
  assert.equal(me.body.role, 'user');
  assert.equal(me.body.status, 'approved');
  assert.equal(me.body.quota.max_gpus, 4);
  assert.equal(me.body.quota.gpus_in_use, 0);

  const bal = await call(sim, 'GET', '/balance');
  assert.deepEqual(bal.body, { credits: 12_345 });

  const cl = await call(sim, 'GET', '/cluster');
  assert.equal(cl.status, 200);
  assert.ok(Array.isArray(cl.body.nodes) && cl.body.nodes.length >= 5);
  for (const n of cl.body.nodes) {
    assert.match(n.hostname, /^kgpu-w\d{2}$/);
    assert.equal(n.busy, 0);
    assert.equal(n.free, n.total);
  }
  const v100 = cl.body.nodes.filter((n: { gpu_model: string }) => n.gpu_model === 'v100');
  assert.equal(
    v100.reduce((s: number, n: { total: number }) => s + n.total, 0),
    4,
  );

  await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', gpu_count: 3 } });
  const after = await call(sim, 'GET', '/cluster');
  assert.equal(
    after.body.nodes.filter((n: { gpu_model: string }) => n.gpu_model === 'v100').reduce((s: number, n: { busy: number }) => s + n.busy, 0),
    3,
  );
  assert.equal((await call(sim, 'GET', '/me')).body.quota.gpus_in_use, 3);
});

test('the in-pod token: /me, its own pod, /objects; 403 for the rest; 401 once the rental ends', async (t) => {
  const sim = await startSim(t);
  const podId = await rentReady(sim, { gpu_model: 'v100' });
  const other = await rentReady(sim, { gpu_model: 'v100', name: 'other' });
  const pt = sim.podToken(podId);
  assert.match(pt, new RegExp(`^kgpu_pod_${podId}\\.[A-Za-z0-9_-]+$`));
  // What the pod's processes see is that very token.
  const env = await call(sim, 'POST', `/pods/${podId}/exec`, { body: { cmd: ['sh', '-c', 'printf %s "$KGPU_API_TOKEN"'] } });
  assert.equal(env.body.stdout, pt);

  const me = await call(sim, 'GET', '/me', { token: pt });
  assert.equal(me.status, 200);
  assert.equal(me.body.user_id, sim.state.primary.user_id);
  assert.equal(me.body.token_scope, 'pod');
  assert.equal((await call(sim, 'GET', `/pods/${podId}`, { token: pt })).body.pod_id, podId);
  assert.equal((await call(sim, 'POST', '/objects', { token: pt, body: { label: 'from-pod' } })).status, 200);
  assert.equal((await call(sim, 'GET', '/objects', { token: pt })).body.length, 1);

  assertError(await call(sim, 'POST', '/pods', { token: pt, body: {} }), 403, 'forbidden_scope');
  assertError(await call(sim, 'GET', '/pods', { token: pt }), 403, 'forbidden_scope');
  assertError(await call(sim, 'GET', `/pods/${other}`, { token: pt }), 403, 'forbidden_scope');
  assertError(await call(sim, 'DELETE', `/pods/${other}`, { token: pt }), 403, 'forbidden_scope');
  assertError(await call(sim, 'PATCH', `/pods/${podId}`, { token: pt, body: {} }), 403, 'forbidden_scope');
  assertError(await call(sim, 'POST', `/pods/${podId}/exec`, { token: pt, body: { cmd: ['true'] } }), 403, 'forbidden_scope');
  assertError(await call(sim, 'GET', '/balance', { token: pt }), 403, 'forbidden_scope');
  assert.equal(sim.state.pods.get(other)?.ended_at, null, 'the other pod is untouched');

  // A forged signature is just invalid.
  assertError(await call(sim, 'GET', '/me', { token: `${pt.slice(0, -2)}xx` }), 401, 'invalid_token');

  const del = await call(sim, 'DELETE', `/pods/${podId}`, { token: pt });
  assert.equal(del.status, 200);
  assert.equal(del.body.end_reason, 'returned');
  assertError(await call(sim, 'GET', '/me', { token: pt }), 401, 'token_expired');
  assertError(await call(sim, 'GET', '/objects', { token: pt }), 401, 'token_expired');
});

test("another account's pods are invisible (404), and its token is its own", async (t) => {
  const sim = await startSim(t);
  const b = sim.addAccount({ credits: 500 });
  const mine = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100' } });
  assertError(await call(sim, 'GET', `/pods/${mine.body.pod_id}`, { token: b.token }), 404, 'not_found');
  assertError(await call(sim, 'DELETE', `/pods/${mine.body.pod_id}`, { token: b.token }), 404, 'not_found');
  assert.deepEqual((await call(sim, 'GET', '/pods', { token: b.token })).body, []);
  assert.equal((await call(sim, 'GET', '/balance', { token: b.token })).body.credits, 500);
});

test('a reused --state-dir keeps the account token (and a reissued one); a fleet file is read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-statedir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fleetFile = join(dir, 'fleet.json');
  writeFileSync(fleetFile, JSON.stringify([{ gpu_model: 'a100', total: 2, price_per_hour_credits: 2000 }]));
  const a = await startSimulator({ clockSpeed: 0, stateDir: join(dir, 'state'), fleet: fleetFile });
  const first = a.token;
  assert.deepEqual((await call(a, 'GET', '/gpu-models', { token: null })).body, [
    { gpu_model: 'a100', total: 2, free: 2, price_per_hour_credits: 2000 },
  ]);
  await a.stop();
  assert.equal(statSync(join(dir, 'state', 'account.json')).mode & 0o777, 0o600);
  const b = await startSimulator({ clockSpeed: 0, stateDir: join(dir, 'state') });
  assert.equal(b.token, first);
  assert.equal((await call(b, 'GET', '/me')).status, 200);
  const second = b.reissueToken();
  await b.stop();
  const c = await startSimulator({ clockSpeed: 0, stateDir: join(dir, 'state') });
  t.after(() => c.stop());
  assert.equal(c.token, second);
  assertError(await call(c, 'GET', '/me', { token: first }), 401, 'invalid_token');
  // A broken fleet file is refused with a message naming it.
  writeFileSync(fleetFile, '{"models": [{"gpu_model": "x"}]}');
  await assert.rejects(startSimulator({ fleet: fleetFile }), /fleet\.json: models\[0\]\.total/);
});

test('clockSpeed N: simulated time runs N× wall time, and billing follows it without advance()', async (t) => {
  const sim = await startSim(t, { clockSpeed: 60_000 }); // one wall millisecond = one simulated minute
  const r = await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3080' } });
  const pod = sim.state.pods.get(r.body.pod_id)!;
  await waitFor(() => pod.credits_spent >= 5 * 10, 'ten simulated minutes to be billed');
  assert.ok(sim.clock.now() - pod.created_at >= 10 * 60_000);
});

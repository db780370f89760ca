/** KgpuApiError / KgpuNetworkError: what the user reads, against the simulator's real error answers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture, failure } from './api-fixture';
import { startSimulator } from '../../../sim/index';
import { KgpuApiError, KgpuClient, KgpuNetworkError } from '../../../../src/kgpu/index';

const REQ = /\(request [0-9a-f]{16}\)/;

test('401: the token provider is asked again once, and the call succeeds with the reissued token', async (t) => {
  const { sim } = await apiFixture(t);
  const old = sim.token;
  let stored = old; // what a secret store would hold
  const asks: boolean[] = [];
  const client = new KgpuClient({
    apiBase: sim.apiBase,
    // A cached copy unless forced to re-read the store.
    getToken: async ({ forceRefresh }) => {
      asks.push(forceRefresh);
      return forceRefresh ? stored : old;
    },
  });
  t.after(() => client.close());
  assert.equal((await client.getBalance()).credits, 100_000);
  stored = sim.reissueToken();
  assert.notEqual(stored, old);
  assert.equal((await client.getMe()).credits, 100_000);
  assert.deepEqual(asks, [false, false, true]);
});

test('401 twice → KgpuApiError 401 "unauthorized", telling the user to sign in again, without the token', async (t) => {
  const { sim } = await apiFixture(t);
  const old = sim.token;
  sim.reissueToken();
  let asks = 0;
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => (asks++, old) });
  t.after(() => client.close());
  const e = await failure(client.listPods());
  assert.ok(e instanceof KgpuApiError);
  assert.equal(e.status, 401);
  assert.equal(e.code, 'unauthorized');
  assert.ok(e.isUnauthorized);
  assert.equal(asks, 2);
  assert.match(e.requestId ?? '', /^[0-9a-f]{16}$/);
  assert.match(String(e), /sign in again/);
  assert.match(String(e), REQ);
  for (const text of [String(e), e.message, e.userMessage, e.serverMessage, JSON.stringify(e)]) assert.ok(!text.includes(old), text);

  // Signed out: no request at all, a clear message.
  const signedOut = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => undefined });
  t.after(() => signedOut.close());
  const e2 = await failure(signedOut.getMe());
  assert.ok(e2 instanceof KgpuApiError);
  assert.equal(e2.code, 'unauthorized');
  assert.equal(String(e2), 'You are not signed in to kgpu — sign in with your account token.');
});

test('5xx: the trace id surfaces in the error text', async (t) => {
  const { sim, client } = await apiFixture(t, {}, { retry: { maxAttempts: 2, baseDelayMs: 1 } });
  sim.faults.failNext('GET', '/balance', 500, { count: 2 });
  const e = await failure(client.getBalance());
  assert.ok(e instanceof KgpuApiError);
  assert.equal(e.status, 500);
  assert.match(e.traceId ?? '', /^[0-9a-f]{16}$/);
  assert.equal(e.traceId, e.requestId);
  assert.equal(
    String(e),
    `kgpu had a server error (500, trace ${e.traceId}) on GET /balance; try again — quote the trace id if it persists.`,
  );
});

test('402: names what was rented, the balance and the hourly need', async (t) => {
  const { client } = await apiFixture(t, { credits: 10 });
  const e = await failure(client.rent({ gpu_model: 'rtx3090', gpu_count: 2 }));
  assert.ok(e instanceof KgpuApiError);
  assert.equal(e.status, 402);
  assert.equal(e.code, 'insufficient_credits');
  assert.match(
    String(e),
    /^Not enough credits to rent 2× rtx3090: balance 10, needed 1 200 per hour \(request [0-9a-f]{16}\)\. Top up your credits or rent a cheaper GPU\.$/,
  );
});

test('409: quota ("3 of your 4 GPUs"), no capacity, and pod not ready', async (t) => {
  const { client } = await apiFixture(t, { coldStartMs: 3_600_000 });
  const first = await client.rent({ gpu_model: 'v100', gpu_count: 3 });
  const quota = await failure(client.rent({ gpu_model: 'rtx3090', gpu_count: 2 }));
  assert.ok(quota instanceof KgpuApiError);
  assert.equal(quota.status, 409);
  assert.match(String(quota), /^You already use 3 of your 4 GPUs; release one or rent fewer \(request [0-9a-f]{16}\)\.$/);

  await client.rent({ gpu_model: 'rtx4090', gpu_count: 1 });
  await client.release(first.pod_id);
  const full = await failure(client.rent({ gpu_model: 'rtx4090', gpu_count: 1 }));
  assert.ok(full instanceof KgpuApiError);
  assert.equal(full.code, 'no_capacity');
  assert.match(String(full), /^No rtx4090 is free right now .*; pick another model or try again later \(request [0-9a-f]{16}\)\.$/);

  // Still Pending (an hour of simulated cold start; the clock is frozen).
  const pending = (await client.listPods()).find((p) => p.phase === 'Pending')!;
  const notReady = await failure(client.exec(pending.pod_id, { cmd: ['true'] }));
  assert.ok(notReady instanceof KgpuApiError);
  assert.equal(notReady.code, 'pod_not_ready');
  assert.match(
    String(notReady),
    new RegExp(`^Pod ${pending.pod_id} is not ready yet; wait until it is Running and ready, then try again ${REQ.source}\\.$`),
  );
});

test('422: names the field', async (t) => {
  const { client } = await apiFixture(t);
  for (const [body, field] of [
    [{ gpu_count: 7 }, 'gpu_count'],
    [{ gpu_model: 'h100' }, 'gpu_model'],
    [{ ephemeral_storage_gib: 5000 }, 'ephemeral_storage_gib'],
    [{ name: 'Not DNS safe!' }, 'name'],
  ] as const) {
    const e = await failure(client.rent(body));
    assert.ok(e instanceof KgpuApiError);
    assert.equal(e.status, 422);
    assert.equal(e.field, field);
    assert.match(String(e), new RegExp(`^Invalid ${field}: .+ ${REQ.source}\\. Fix it and try again\\.$`));
  }
  // Nothing was rented along the way.
  assert.deepEqual(await client.listPods(), []);
});

test('404 on an unknown pod names it', async (t) => {
  const { client } = await apiFixture(t);
  const e = await failure(client.getPod('gpu-nope-1-abc'));
  assert.ok(e instanceof KgpuApiError);
  assert.equal(e.status, 404);
  assert.match(String(e), /^Pod gpu-nope-1-abc was not found on kgpu/);
});

test('network errors: unreachable and timeout say where and what to check', async (t) => {
  const sim = await startSimulator({ clockSpeed: 0 });
  const base = sim.apiBase;
  const token = sim.token;
  await sim.stop(); // nothing listens there any more
  const client = new KgpuClient({ apiBase: base, getToken: async () => token, retry: { maxAttempts: 2, baseDelayMs: 1 } });
  t.after(() => client.close());
  const e = await failure(client.getMe());
  assert.ok(e instanceof KgpuNetworkError);
  assert.equal(e.kind, 'unreachable');
  assert.equal(e.requestSent, false);
  assert.equal(String(e), `Cannot reach kgpu at ${base}: ECONNREFUSED — check kgpu.apiBase and your network.`);

  const { sim: slow, client: impatient } = await apiFixture(t, {}, { timeoutMs: 150, retry: { maxAttempts: 1 } });
  slow.faults.addLatency('GET', '/me', 1_000, { count: 1 });
  const te = await failure(impatient.getMe());
  assert.ok(te instanceof KgpuNetworkError);
  assert.equal(te.kind, 'timeout');
  // 'timeout' itself proves the 150 ms timeout fired before the 1 s answer (which would have succeeded).
  assert.match(
    String(te),
    new RegExp(`^kgpu at ${slow.apiBase.replace(/[.]/g, '\\.')} did not answer GET /me within 150 ms — check your network`),
  );
  // The per-call timeout overrides the client's.
  slow.faults.addLatency('GET', '/me', 300, { count: 1 });
  assert.equal((await impatient.getMe({ timeoutMs: 5_000 })).credits, 100_000);
});

test('AbortSignal cancels a call in flight at once, with an AbortError (not a network error)', async (t) => {
  const { sim, client } = await apiFixture(t);
  sim.faults.addLatency('GET', '/pods', 5_000, { count: 1 });
  const ac = new AbortController();
  const call = client.listPods({ signal: ac.signal });
  setImmediate(() => ac.abort());
  // At once = before the delayed answer could come (an order, not a clock: the abort's rejection is
  // settled before any timer of this process fires again).
  const answer = new Promise<Error>((r) => setTimeout(() => r(new Error('the delayed answer came first')), 5_000).unref());
  const e = await Promise.race([failure(call), answer]);
  assert.ok(e instanceof Error && e.name === 'AbortError', String(e));
  await assert.rejects(client.getMe({ signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('a token echoed by a server never reaches an error text or its serialised body', () => {
  const e = new KgpuApiError(400, 'GET', '/me', '00112233aabbccdd', {
    error: 'bad_request',
    message: 'token kgpu_Secret123 and Bearer kgpu_pod_x.y are wrong',
  });
  for (const text of [String(e), e.message, e.serverMessage, JSON.stringify(e.body), JSON.stringify(e)]) {
    assert.doesNotMatch(text, /Secret123|kgpu_pod_x/, text);
  }
  assert.match(
    String(e),
    /^kgpu rejected the request GET \/me as malformed: token kgpu_… and Bearer … are wrong \(request 00112233aabbccdd\)\.$/,
  );
});

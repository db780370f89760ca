/** One clear, non-repeating error per distinct failure: real failures from the simulator and the network. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { apiFixture, failure } from './api-fixture';
import { KgpuApiError, KgpuClient, KgpuNetworkError } from '../../../../src/kgpu/index';
import { ErrorDeduplicator, errorMessage, errorSignature } from '../../../../src/kgpu/api/error-dedup';

test('an invalid token: 401 with the request id; the same failure twice is shown once', async (t) => {
  const { sim } = await apiFixture(t);
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => 'kgpu_wrongtoken', retry: { maxAttempts: 1 } });
  t.after(() => client.close());
  const a = await failure(client.getMe());
  const b = await failure(client.listPods());
  assert.ok(a instanceof KgpuApiError && a.status === 401);
  assert.match(errorMessage(a), /sign in again.*request [0-9a-f]{16}/);
  assert.doesNotMatch(errorMessage(a), /wrongtoken/, 'the token never appears');
  const d = new ErrorDeduplicator();
  assert.equal(d.shouldShow('refresh', a), true);
  assert.equal(d.shouldShow('refresh', b), false, 'same status and code, other request id');
});

test('a 500 with trace_id: the message quotes it; repeated 500s are one notification until a success', async (t) => {
  const { sim, client } = await apiFixture(t, {}, { retry: { maxAttempts: 1 } });
  sim.faults.add({ type: 'fail', method: 'GET', path: '/pods', status: 500, count: 3 });
  const errors = [await failure(client.listPods()), await failure(client.listPods()), await failure(client.listPods())];
  const traces = errors.map((e) => (e as KgpuApiError).traceId);
  assert.equal(new Set(traces).size, 3, 'every 500 has its own trace id');
  for (const e of errors) assert.match(errorMessage(e), new RegExp(`trace ${(e as KgpuApiError).traceId}`));
  const d = new ErrorDeduplicator();
  assert.deepEqual(
    errors.map((e) => d.shouldShow('refresh', e)),
    [true, false, false],
  );
  await client.listPods(); // the fault is used up
  assert.equal(d.succeeded('refresh'), true);
  sim.faults.add({ type: 'fail', method: 'GET', path: '/pods', status: 503, count: 1 });
  assert.equal(d.shouldShow('refresh', await failure(client.listPods())), true, 'after a success a failure is news again');
});

test('a stopped simulator (connection refused): the same network failure is shown once; another kind is shown', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const client = new KgpuClient({
    apiBase: `http://127.0.0.1:${port}/v1`,
    getToken: async () => 'kgpu_x',
    retry: { maxAttempts: 1 },
    timeoutMs: 2_000,
  });
  try {
    const a = await failure(client.listGpuModels());
    const b = await failure(client.listGpuModels());
    assert.ok(a instanceof KgpuNetworkError);
    assert.match(errorMessage(a), /Cannot reach kgpu at http:\/\/127\.0\.0\.1:\d+\/v1.*check kgpu\.apiBase/);
    assert.equal(errorSignature(a), errorSignature(b));
    const d = new ErrorDeduplicator();
    assert.equal(d.shouldShow('refresh', a), true);
    assert.equal(d.shouldShow('refresh', b), false);
    assert.equal(d.shouldShow('refresh', new KgpuApiError(500, 'GET', '/pods', 'abcd', { error: 'internal', trace_id: 'abcd' })), true);
    assert.equal(d.shouldShow('other-channel', a), true, 'channels are independent');
  } finally {
    await client.close();
  }
});

test('a malformed apiBase cannot build a client; aborts are never shown', () => {
  assert.throws(() => new KgpuClient({ apiBase: 'not a url', getToken: async () => undefined }), TypeError);
  const d = new ErrorDeduplicator();
  const abort = Object.assign(new Error('cancelled'), { name: 'AbortError' });
  assert.equal(d.shouldShow('x', abort), false);
  d.clear();
  assert.equal(d.succeeded('x'), false);
});

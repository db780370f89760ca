/** Retries: only GET and DELETE, bounded, with backoff; POST /pods never rents twice. */
import { test, type TestContext } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import assert from 'node:assert/strict';
import { apiFixture, failure } from './api-fixture';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  abortableDelay,
  isRetryableStatus,
  KgpuApiError,
  KgpuClient,
  KgpuNetworkError,
  parseRetryAfter,
  RentCancelledError,
} from '../../../../src/kgpu/index';

test('GET is retried on 5xx/429 and on dropped connections, then succeeds', async (t) => {
  const { sim, client } = await apiFixture(t);
  sim.faults.failNext('GET', '/pods', 503, { count: 1 });
  sim.faults.failNext('GET', '/pods', 429, { count: 1 });
  sim.faults.dropNext('GET', '/pods', { count: 1 });
  assert.deepEqual(await client.listPods(), []);
  assert.equal(sim.faults.counters.failed, 2);
  assert.equal(sim.faults.counters.dropped, 1);
});

test('retries are bounded: maxAttempts in all, then the last error', async (t) => {
  const { sim, client } = await apiFixture(t, {}, { retry: { maxAttempts: 3, baseDelayMs: 1 } });
  sim.faults.failNext('GET', '/me', 502, { count: 10 });
  const e = await failure(client.getMe());
  assert.ok(e instanceof KgpuApiError);
  assert.equal(e.status, 502);
  assert.equal(sim.faults.counters.failed, 3);
  // 4xx other than 429 are not retried.
  const nf = await failure(client.getPod('gpu-nope-1-aa'));
  assert.ok(nf instanceof KgpuApiError && nf.status === 404);
});

test('DELETE is retried (it is idempotent); POST exec, PATCH and POST /objects are not', async (t) => {
  const { sim, client } = await apiFixture(t);
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  await client.waitUntilReady(rent.pod_id, { intervalMs: 10, pollFloorMs: 0 });

  sim.faults.failNext('POST', '/pods/*/exec', 503, { count: 5 });
  const ex = await failure(client.exec(rent.pod_id, { cmd: ['true'] }));
  assert.ok(ex instanceof KgpuApiError && ex.status === 503);
  assert.equal(sim.faults.counters.failed, 1);

  sim.faults.dropNext('PATCH', '/pods/*', { count: 5 });
  const px = await failure(client.rotateSshKey(rent.pod_id));
  assert.ok(px instanceof KgpuNetworkError && px.kind === 'connection_lost', String(px));
  assert.equal(sim.faults.counters.dropped, 1);

  sim.faults.failNext('POST', '/objects', 500, { count: 5 });
  await failure(client.createObject('x'));
  assert.equal(sim.faults.counters.failed, 2);
  sim.faults.clear();

  sim.faults.failNext('DELETE', '/pods/*', 503, { count: 1 });
  sim.faults.dropNext('DELETE', '/pods/*', { count: 1 });
  const released = await client.release(rent.pod_id);
  assert.equal(released.end_reason, 'returned');
  assert.equal(sim.faults.counters.failed, 3);
  assert.equal(sim.faults.counters.dropped, 2);
});

test('POST /pods: a dropped connection does not rent twice — exactly one pod afterwards', async (t) => {
  const { sim, client } = await apiFixture(t);
  sim.faults.dropNext('POST', '/pods', { count: 1 });
  const r = await client.rent({ name: 'once', gpu_model: 'rtx3090' });
  assert.equal(sim.faults.counters.dropped, 1);
  const pods = await client.listPods();
  assert.deepEqual(
    pods.map((p) => p.pod_id),
    [r.pod_id],
  );
  assert.equal(pods[0].name, 'once');
});

test('POST /pods: a 5xx before the pod was made is retried once and rents exactly one', async (t) => {
  const { sim, client } = await apiFixture(t);
  sim.faults.failNext('POST', '/pods', 503, { count: 1 });
  const r = await client.rent({ gpu_model: 'v100', gpu_count: 2 });
  assert.equal(r.recovered, false);
  assert.deepEqual(
    (await client.listPods()).map((p) => p.pod_id),
    [r.pod_id],
  );
  // Persistent 5xx: two attempts, then the error; still nothing rented.
  sim.faults.failNext('POST', '/pods', 500, { count: 10 });
  const e = await failure(client.rent({ gpu_model: 'rtx3080' }));
  assert.ok(e instanceof KgpuApiError && e.status === 500);
  assert.equal(sim.faults.counters.failed, 3);
  assert.equal((await client.listPods()).length, 1);
});

test('POST /pods: a timeout is not retried blindly (the server may still be renting)', async (t) => {
  const { sim, client } = await apiFixture(t, {}, { timeoutMs: 200, rentSettleMs: 50 });
  sim.faults.addLatency('POST', '/pods', 600, { count: 1 });
  const e = await failure(client.rent({ gpu_model: 'rtx3090' }));
  assert.ok(e instanceof KgpuNetworkError && e.kind === 'timeout', String(e));
  // One POST reached the server (the delayed one) — no second one was sent.
  assert.equal(sim.faults.counters.delayed, 1);
  await sim.settled();
  assert.ok((await client.listPods()).length <= 1);
});

/**
 * The simulator's `drop` fault drops a request before handling it, so it cannot lose the answer
 * of a POST that did rent. This throwaway proxy in front of it forwards everything and, for the
 * first POST /pods, lets the simulator rent and then cuts the connection instead of answering.
 */
async function answerLosingProxy(
  t: TestContext,
  upstream: string,
  mode: 'drop' | 'stall' = 'drop',
): Promise<{ apiBase: string; lost: () => number }> {
  const target = new URL(upstream);
  let lost = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      request(`${target.origin}${req.url}`, {
        method: req.method as 'GET',
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      })
        .then(async (up) => {
          const body = Buffer.from(await up.body.arrayBuffer());
          if (req.method === 'POST' && req.url === '/v1/pods' && lost === 0) {
            lost++;
            if (mode === 'drop') req.socket.destroy(); // else: never answer (until the client gives up)
            return;
          }
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(up.headers))
            if (typeof v === 'string' && !['connection', 'keep-alive', 'transfer-encoding'].includes(k)) out[k] = v;
          out['content-length'] = String(body.length);
          res.writeHead(up.statusCode, out);
          res.end(body);
        })
        .catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, lost: () => lost };
}

test('POST /pods: the answer is lost after the pod was made — the pod is found, a fresh key minted, nothing rented twice', async (t) => {
  const { sim, client: direct } = await apiFixture(t);
  const older = await direct.rent({ name: 'slow', gpu_model: 'rtx3090' }); // same name/model, older: must not be taken for ours
  const proxy = await answerLosingProxy(t, sim.apiBase);
  const client = new KgpuClient({ apiBase: proxy.apiBase, getToken: async () => sim.token, rentSettleMs: 50 });
  t.after(() => client.close());
  const r = await client.rent({ name: 'slow', gpu_model: 'rtx3090' });
  assert.equal(proxy.lost(), 1);
  assert.equal(r.recovered, true);
  assert.notEqual(r.pod_id, older.pod_id);
  assert.equal(r.gpu_model, 'rtx3090');
  assert.match(r.ssh_access?.private_key ?? '', /BEGIN OPENSSH PRIVATE KEY/);
  const pods = await direct.listPods();
  assert.deepEqual(pods.map((p) => p.pod_id).sort(), [r.pod_id, older.pod_id].sort());
  // The key we got back is the one pinned now (the lost answer's key was rotated away).
  assert.equal(pods.find((p) => p.pod_id === r.pod_id)?.ssh_fingerprint, r.ssh_access?.fingerprint);
  assert.equal(r.balance_after_precheck, (await direct.getBalance()).credits);
  // Our marker reached the server.
  assert.equal(sim.state.pods.get(r.pod_id)?.env?.KGPU_CLIENT_REQUEST_ID, r.client_request_id);
});

test('rent cancelled while kgpu was already renting: the pod is found and released, and the error says so', async (t) => {
  const { sim, client: direct } = await apiFixture(t);
  const proxy = await answerLosingProxy(t, sim.apiBase, 'stall');
  const client = new KgpuClient({ apiBase: proxy.apiBase, getToken: async () => sim.token, rentSettleMs: 50 });
  t.after(() => client.close());
  const ac = new AbortController();
  const renting = client.rent({ name: 'cancelled', gpu_model: 'rtx3080' }, { signal: ac.signal });
  // Wait (bounded) until the simulator has rented, then cancel while the answer is still held back.
  const deadline = Date.now() + 5_000;
  while (sim.state.pods.size === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.equal(sim.state.pods.size, 1);
  ac.abort();
  const e = await failure(renting);
  assert.ok(e instanceof RentCancelledError, String(e));
  assert.equal(e.name, 'AbortError');
  const [pod] = await direct.listPods();
  assert.equal(e.podId, pod.pod_id);
  assert.equal(e.released, true);
  assert.equal(pod.end_reason, 'returned');
  assert.equal(e.message, `Renting was cancelled; kgpu had already created ${pod.pod_id}, so it was released.`);
  // Cancelled before anything was sent: a plain AbortError, nothing rented.
  await assert.rejects(client.rent({ gpu_model: 'rtx3080' }, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal((await direct.listPods()).length, 1);
});

test('backoff policy: exponential with full jitter, capped; Retry-After respected', async () => {
  const p = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1_000, random: () => 0.999 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(p, n)),
    [99, 199, 399, 799, 999, 999],
  );
  assert.equal(backoffDelayMs({ ...p, random: () => 0 }, 3), 0);
  assert.equal(backoffDelayMs(p, 1, 5_000), 5_000);
  assert.equal(parseRetryAfter('3'), 3_000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString(), Date.now()) !== undefined, true);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.deepEqual([429, 500, 502, 503, 504, 400, 404, 409, 501].map(isRetryableStatus), [
    true,
    true,
    true,
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
  // abortableDelay() is cancellable and leaves no timer behind.
  const ac = new AbortController();
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const d = abortableDelay(60_000, ac.signal);
  ac.abort();
  await assert.rejects(d, { name: 'AbortError' });
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timersBefore);
});

/**
 * The simulator's `fail` fault sends no Retry-After header, so this throwaway server (only here)
 * answers 429 with one: first a short wait the client honours, then one too long to wait for.
 */
test('Retry-After: honoured when short, surfaced in the message when too long to wait', async (t) => {
  let hits = 0;
  const times: number[] = [];
  let retryAfter = '1';
  const server = createServer((req, res) => {
    hits++;
    times.push(Date.now());
    res.setHeader('x-request-id', '0123456789abcdef');
    if (hits === 1 || retryAfter !== '1') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': retryAfter });
      res.end(JSON.stringify({ error: 'rate_limited', message: 'slow down' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ credits: 7 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const client = new KgpuClient({
    apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    getToken: async () => 'kgpu_throwaway',
    retry: { baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 10_000 },
  });
  t.after(() => client.close());
  assert.deepEqual(await client.getBalance(), { credits: 7 });
  assert.equal(hits, 2);
  assert.ok(times[1] - times[0] >= 950, `waited ${times[1] - times[0]} ms for Retry-After: 1`);

  retryAfter = '300';
  hits = 0;
  const e = await failure(client.getBalance());
  assert.equal(hits, 1, 'a Retry-After beyond maxRetryAfterMs is not waited for');
  assert.ok(e instanceof KgpuApiError && e.status === 429);
  assert.equal(String(e), 'kgpu is rate-limiting requests: slow down; try again in 5 min (request 0123456789abcdef).');
});

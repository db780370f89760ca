/**
 * REST faults through the real client and the rentals model: bursts of 500/502/503 (with
 * trace_id), latency spikes, each bad rent field (422), an expired object (410) and a timeout on
 * POST /pods. Each becomes ONE clear message that names what to do and quotes the request or trace
 * id; none leaves half-made state (the pod a timed-out rent created is in the rentals model).
 * (401 after a reissue, 402, 409 quota/capacity and 404 are in test/unit/kgpu/api/api-errors.test.ts.)
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../sim/index';
import { KgpuApiError, KgpuNetworkError } from '../../../src/kgpu/api/api-error';
import { KgpuClient, type KgpuClientOptions } from '../../../src/kgpu/api/api-client';
import { RentalsModel, type RefreshFailure } from '../../../src/kgpu/model/rentals-model';
import { failure } from '../kgpu/api/api-fixture';
import { waitFor } from './fleet-fixture';

async function setup(
  t: TestContext,
  simOptions: SimulatorOptions = {},
  clientOptions: Partial<KgpuClientOptions> = {},
): Promise<{ sim: Simulator; client: KgpuClient }> {
  const sim = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0, ...simOptions });
  t.after(() => sim.stop());
  const client = new KgpuClient({
    apiBase: sim.apiBase,
    getToken: async () => sim.token,
    retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 },
    ...clientOptions,
  });
  t.after(() => client.close());
  return { sim, client };
}

function model(client: KgpuClient): RentalsModel {
  return new RentalsModel(() => ({
    signedIn: true,
    api: {
      listPods: () => client.listPods(),
      getPod: (id) => client.getPod(id),
      me: () => client.getMe(),
      gpuModels: () => client.listGpuModels(),
    },
  }));
}

test('bursts of 500/502/503: a short burst is absorbed by the retries; a long one is ONE error quoting its trace id, and the views recover', async (t) => {
  const { sim, client } = await setup(t);
  for (const status of [500, 502, 503]) {
    sim.faults.failNext('GET', '/pods', status, { count: 2 });
    assert.deepEqual(await client.listPods(), [], `a burst of two ${status}s is retried away`);
  }
  const m = model(client);
  t.after(() => m.dispose());
  const failures: RefreshFailure[] = [];
  m.onDidFail((f) => failures.push(f));
  await m.refresh();
  for (const status of [500, 502, 503]) {
    failures.length = 0;
    sim.faults.failNext('GET', '/pods', status, { count: 3 });
    await m.refresh();
    assert.equal(failures.length, 1, `one failure reported for a refresh hit by ${status}s`);
    const e = failures[0]!.error;
    assert.ok(e instanceof KgpuApiError, String(e));
    assert.equal(e.status, status);
    assert.match(e.traceId ?? '', /^[0-9a-f]+$/, 'the 5xx body carried a trace_id');
    assert.ok(e.userMessage.includes(e.traceId!), e.userMessage);
    assert.match(e.userMessage, /server error.*try again.*quote the trace id/);
    await m.refresh();
    assert.equal(failures.length, 1, 'the next refresh succeeds: no further failure');
    assert.equal(m.lastError, undefined, 'and the views recover');
  }
});

test('latency spikes: a spike within the timeout is waited out; beyond it the GET is retried, then fails with where and what to check', async (t) => {
  const { sim, client } = await setup(t, {}, { timeoutMs: 300 });
  sim.faults.addLatency('GET', '/me', 150, { count: 1 });
  assert.equal((await client.getMe()).credits, 100_000);
  sim.faults.addLatency('GET', '/me', 1000, { count: 1 });
  assert.equal((await client.getMe()).credits, 100_000, 'a single slow answer is retried');
  sim.faults.addLatency('GET', '/balance', 1000, { count: 5 });
  const e = await failure(client.getBalance());
  assert.ok(e instanceof KgpuNetworkError && e.kind === 'timeout', String(e));
  assert.match(
    e.userMessage,
    new RegExp(`kgpu at ${sim.apiBase.replace(/[.]/g, '\\.')} did not answer GET /balance within 300 ms — check your network`),
  );
});

test('422: every bad rent field is named, with the request id and what to do; nothing rented', async (t) => {
  const { client } = await setup(t);
  const bad: [Record<string, unknown>, string][] = [
    [{ name: 'no spaces allowed' }, 'name'],
    [{ name: 'x'.repeat(31) }, 'name'],
    [{ gpu_model: 'h100' }, 'gpu_model'],
    [{ gpu_count: 5 }, 'gpu_count'],
    [{ gpu_count: -1 }, 'gpu_count'],
    [{ cpu: '17' }, 'cpu'],
    [{ cpu: 'lots' }, 'cpu'],
    [{ memory: '129Gi' }, 'memory'],
    [{ memory: 'sixteen' }, 'memory'],
    [{ ephemeral_storage_gib: 0 }, 'ephemeral_storage_gib'],
    [{ ephemeral_storage_gib: 2001 }, 'ephemeral_storage_gib'],
    [{ ssh_pubkey: 'not a key' }, 'ssh_pubkey'],
  ];
  for (const [body, field] of bad) {
    const e = await failure(client.rent(body));
    assert.ok(e instanceof KgpuApiError, `${JSON.stringify(body)}: ${String(e)}`);
    assert.equal(e.status, 422, JSON.stringify(body));
    assert.equal(e.field, field, `${JSON.stringify(body)} → ${e.userMessage}`);
    assert.match(e.userMessage, new RegExp(`^Invalid ${field}\\b.*\\(request [0-9a-f]{16}\\)\\. Fix it and try again\\.$`));
  }
  assert.deepEqual(await client.listPods(), [], 'nothing was rented along the way');
});

test('410: an expired transit object says so, what to do, and the request id', async (t) => {
  const { sim, client } = await setup(t);
  const obj = await client.createObject('dataset');
  await client.uploadToPutUrl(obj.put_url, Buffer.from('bytes'), 5);
  await sim.clock.advance(24 * 3_600_000 + 1000);
  const e = await failure(client.getObject(obj.object_id));
  assert.ok(e instanceof KgpuApiError, String(e));
  assert.equal(e.status, 410);
  assert.match(e.userMessage, new RegExp(`^Transit object ${obj.object_id} has expired .*upload it again \\(request [0-9a-f]{16}\\)\\.$`));
  await client.deleteObject(obj.object_id); // idempotent tidy-up still works
});

/** A proxy in front of the simulator that holds the first POST /pods for `holdMs` before passing
 *  it on: kgpu is "still renting" when the client gives up (the simulator's own latency fault
 *  delays before reading the body, so a client that left is never served). */
async function slowRentProxy(t: TestContext, upstream: string, holdMs: number): Promise<string> {
  const target = new URL(upstream);
  let held = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      const hold = req.method === 'POST' && req.url === '/v1/pods' && held++ === 0 ? holdMs : 0;
      setTimeout(() => {
        request(`${target.origin}${req.url}`, {
          method: req.method as 'GET',
          headers,
          body: chunks.length ? Buffer.concat(chunks) : undefined,
        })
          .then(async (up) => {
            const body = Buffer.from(await up.body.arrayBuffer());
            if (!res.destroyed) res.writeHead(up.statusCode, up.headers as Record<string, string>).end(body);
          })
          .catch(() => res.destroy());
      }, hold);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.on('connection', (s) => t.after(() => s.destroy()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

test('a timeout on POST /pods while kgpu is still renting: not retried, the message warns against renting again, and the pod shows in the rentals model', async (t) => {
  const { sim } = await setup(t);
  const apiBase = await slowRentProxy(t, sim.apiBase, 500);
  const client = new KgpuClient({
    apiBase,
    getToken: async () => sim.token,
    timeoutMs: 200,
    rentSettleMs: 20,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  t.after(() => client.close());
  const m = model(client);
  t.after(() => m.dispose());
  await m.refresh();
  const e = await failure(client.rent({ gpu_model: 'rtx3090', name: 'slow' }));
  assert.ok(e instanceof KgpuNetworkError && e.kind === 'timeout', String(e));
  assert.match(e.userMessage, /POST \/pods/);
  assert.match(
    e.userMessage,
    /may have been rented anyway\. Refresh the Rentals view before renting again/,
    `${e.userMessage} — must not invite a blind second rent`,
  );
  // The server finishes the slow request; the next refresh of the views shows the pod: nothing unknown, nothing rented twice.
  await waitFor('the slow rent to land', async () => (await client.listPods()).length === 1, 5000);
  await m.refresh();
  assert.deepEqual(
    m.pods.map((p) => [p.name, p.gpu_model]),
    [['slow', 'rtx3090']],
  );
  assert.equal(sim.state.pods.size, 1, 'one pod: no second rent was sent');
});

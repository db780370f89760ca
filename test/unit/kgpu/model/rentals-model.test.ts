/** The rentals model (what every view, the status bar and the notifications read) against the simulator. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture } from '../api/api-fixture';
import { KgpuClient, type KgpuApiError } from '../../../../src/kgpu/index';
import { RentalsModel, type PodStateChange, type RentalsApi, type RefreshFailure } from '../../../../src/kgpu/model/rentals-model';
import { startSimulator } from '../../../sim/index';

function apiOf(client: KgpuClient): RentalsApi {
  return {
    listPods: () => client.listPods(),
    getPod: (id) => client.getPod(id),
    me: () => client.getMe(),
    gpuModels: () => client.listGpuModels(),
  };
}

function record(model: RentalsModel): { changes: PodStateChange[]; failures: RefreshFailure[] } {
  const changes: PodStateChange[] = [];
  const failures: RefreshFailure[] = [];
  model.onDidChangePodState((c) => changes.push(c));
  model.onDidFail((f) => failures.push(f));
  return { changes, failures };
}

test('refresh loads pods newest first, /me and the public menu; signed out loads only the menu', async (t) => {
  const { sim, client } = await apiFixture(t);
  let signedIn = false;
  const model = new RentalsModel(() => ({ api: apiOf(client), signedIn }));
  t.after(() => model.dispose());
  await model.refresh();
  assert.equal(model.gpuModels?.length, 5);
  assert.equal(model.me === undefined, true);
  assert.equal(model.pods.length, 0);

  signedIn = true;
  const a = await client.rent({ gpu_model: 'rtx3080', name: 'first', ssh_pubkey: null });
  await sim.clock.advance(1_000); // a later created_at
  const b = await client.rent({ gpu_model: 'v100', name: 'second' });
  await model.refresh();
  assert.deepEqual(
    model.pods.map((p) => p.pod_id),
    [b.pod_id, a.pod_id],
  );
  assert.equal(typeof model.me?.credits, 'number');
  assert.equal(model.get(a.pod_id)?.name, 'first');
  assert.equal(model.livePods.length, 2);
  assert.equal(model.lastError, undefined);
  await sim.settled();
});

test('transitions: ready, then ended with its end_reason — one event each, none for the first snapshot', async (t) => {
  const { sim, client } = await apiFixture(t, { coldStartMs: 60_000 });
  const model = new RentalsModel(() => ({ api: apiOf(client), signedIn: true }));
  t.after(() => model.dispose());
  const { changes } = record(model);
  const rented = await client.rent({ gpu_model: 'rtx3090', name: 'job' });
  await model.refresh(); // baseline: Pending
  assert.equal(model.hasPending, true);
  assert.equal(model.get(rented.pod_id)?.phase, 'Pending');
  assert.equal(changes.length, 0);

  await sim.settled();
  await sim.clock.advance(61_000);
  await model.refresh();
  assert.deepEqual(
    changes.map((c) => c.kind),
    ['ready'],
  );
  await model.refresh(); // nothing new
  assert.equal(changes.length, 1);

  const ended: string[] = [];
  model.onDidEndPod((e) => ended.push(e.endReason));
  await sim.endPod(rented.pod_id, 'evicted_by_kubelet:OOMKilled');
  await model.refresh();
  assert.deepEqual(
    changes.map((c) => c.kind),
    ['ready', 'ended'],
  );
  assert.deepEqual(ended, ['evicted_by_kubelet:OOMKilled']);
  assert.equal(model.livePods.length, 0);
  await model.refresh();
  assert.equal(changes.length, 2, 'an ended pod is reported once');
});

test('out of credits ends every pod; the model reports each end once with out_of_credits', async (t) => {
  const { sim, client } = await apiFixture(t, { credits: 30 }); // rtx3080: 5 credits/min → 6 minutes
  const model = new RentalsModel(() => ({ api: apiOf(client), signedIn: true }));
  t.after(() => model.dispose());
  const { changes } = record(model);
  const rented = await client.rent({ gpu_model: 'rtx3080' });
  await sim.settled();
  await model.refresh();
  await sim.clock.advance(10 * 60_000);
  await model.refresh();
  const ends = changes.filter((c) => c.kind === 'ended');
  assert.equal(ends.length, 1);
  assert.equal(ends[0].pod.pod_id, rented.pod_id);
  assert.equal(ends[0].kind === 'ended' && ends[0].endReason, 'out_of_credits');
});

test('concurrent refreshes share one request; a refresh asked during one runs once more after it', async (t) => {
  const { client } = await apiFixture(t);
  let listCalls = 0;
  const api = apiOf(client);
  const counting: RentalsApi = { ...api, listPods: () => (listCalls++, api.listPods()) };
  const model = new RentalsModel(() => ({ api: counting, signedIn: true }));
  t.after(() => model.dispose());
  const first = model.refresh();
  const second = model.refresh();
  const third = model.refresh();
  await Promise.all([first, second, third]);
  assert.equal(listCalls, 2, 'one in flight + one queued');
});

test('a 500 with trace_id keeps the last good state, reports the failure, and recovers when the fault goes', async (t) => {
  const { sim, client } = await apiFixture(t, {}, { retry: { maxAttempts: 1 } });
  const model = new RentalsModel(() => ({ api: apiOf(client), signedIn: true }));
  t.after(() => model.dispose());
  const { failures } = record(model);
  const rented = await client.rent({ gpu_model: 'rtx3080' });
  await model.refresh();
  sim.faults.add({ type: 'fail', method: 'GET', path: '/pods', status: 500, count: Infinity });
  await model.refresh();
  assert.equal(model.lastError?.part, 'pods');
  const err = model.lastError?.error as KgpuApiError;
  assert.equal(err.status, 500);
  assert.match(err.userMessage, /trace [0-9a-f]{16}/);
  assert.deepEqual(
    model.pods.map((p) => p.pod_id),
    [rented.pod_id],
    'the last known pods stay',
  );
  assert.ok(model.gpuModels, 'other parts still refreshed');
  sim.faults.clear();
  await model.refresh();
  assert.equal(model.lastError, undefined);
  assert.equal(failures.length, 1);
});

test('the simulator stopped mid-refresh: the failure is reported, the state kept, and a restarted simulator is picked up', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const stateDir = mkdtempSync(join(tmpdir(), 'kgpu-model-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  let sim = await startSimulator({ clockSpeed: 0, stateDir });
  const port = Number(new URL(sim.apiBase).port);
  t.after(() => sim.stop());
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { maxAttempts: 1 }, timeoutMs: 5_000 });
  t.after(() => client.close());
  const model = new RentalsModel(() => ({ api: apiOf(client), signedIn: true }));
  t.after(() => model.dispose());
  const { failures } = record(model);
  await model.refresh();
  assert.equal(model.gpuModels?.length, 5);

  // Stop it while a refresh is in flight (a slow /pods keeps the refresh open).
  sim.faults.add({ type: 'latency', method: 'GET', path: '/pods', ms: 300, count: 1 });
  const inFlight = model.refresh();
  const stopping = sim.stop();
  await inFlight;
  await stopping;
  await model.refresh();
  assert.ok(model.lastError, 'the failure is visible');
  assert.equal(model.gpuModels?.length, 5, 'the last known menu stays');
  assert.ok(failures.length >= 1);

  sim = await startSimulator({ clockSpeed: 0, stateDir, port });
  await model.refresh();
  assert.equal(model.lastError, undefined, 'recovered by itself');
});

test('a live pod that vanished from GET /pods is read once by id, so its end reason is still shown', async (t) => {
  const { sim, client } = await apiFixture(t);
  const rented = await client.rent({ gpu_model: 'rtx3080' });
  const real = apiOf(client);
  let hide = false;
  const api: RentalsApi = { ...real, listPods: async () => (await real.listPods()).filter((p) => !hide || p.pod_id !== rented.pod_id) };
  const model = new RentalsModel(() => ({ api, signedIn: true }));
  t.after(() => model.dispose());
  const { changes } = record(model);
  await model.refresh();
  await client.release(rented.pod_id);
  await sim.settled();
  hide = true;
  await model.refresh();
  const ended = changes.find((c) => c.kind === 'ended');
  assert.ok(ended && ended.kind === 'ended');
  assert.equal(ended.endReason, 'returned');
  assert.equal(model.get(rented.pod_id)?.end_reason, 'returned');
});

test('clearEnded hides ended pods (persisted through the store) but never live ones; reset forgets everything', async (t) => {
  const { sim, client } = await apiFixture(t);
  let stored: readonly string[] = [];
  const model = new RentalsModel(() => ({ api: apiOf(client), signedIn: true }), { get: () => stored, set: (ids) => void (stored = ids) });
  t.after(() => model.dispose());
  const keep = await client.rent({ gpu_model: 'rtx3080', name: 'keep' });
  const gone = await client.rent({ gpu_model: 'v100', name: 'gone' });
  await client.release(gone.pod_id);
  await sim.settled();
  await model.refresh();
  assert.equal(model.pods.length, 2);
  await model.clearEnded();
  assert.deepEqual(
    model.pods.map((p) => p.pod_id),
    [keep.pod_id],
  );
  assert.deepEqual([...stored], [gone.pod_id]);
  assert.equal(model.allPods.length, 2);
  model.reset();
  assert.equal(model.allPods.length, 0);
  assert.equal(model.me === undefined, true);
});

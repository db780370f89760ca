/** Tree rows, the Account rows and the status bar computed from simulator state (no VS Code). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture } from '../api/api-fixture';
import { rentalItem, phaseText } from '../../../../src/kgpu/model/rentals-view-model';
import { gpuModelItem, sortGpuModels } from '../../../../src/kgpu/model/gpu-models-view-model';
import { accountItems, estimatedBalance } from '../../../../src/kgpu/model/account-view-model';
import { statusBarModel } from '../../../../src/kgpu/model/status-bar-model';
import { formatAge } from '../../../../src/kgpu/model/tree-item-model';

test('GPU model rows: free/total, credits/h and $/h; the only rtx4090 rented → sold out, no Rent action', async (t) => {
  const { client } = await apiFixture(t);
  let rows = sortGpuModels(await client.listGpuModels()).map(gpuModelItem);
  assert.deepEqual(
    rows.map((r) => r.label),
    ['rtx3080', 'rtx3090', 'v100', 'rtx4090', 'rtx5090'],
  );
  const r4090 = rows.find((r) => r.label === 'rtx4090')!;
  assert.equal(r4090.description, '1/1 free · $0.67/h · 1 000 credits/h');
  assert.equal(r4090.contextValue, 'gpuModel.available');
  assert.equal(r4090.icon.id, 'chip');

  await client.rent({ gpu_model: 'rtx4090' });
  rows = sortGpuModels(await client.listGpuModels()).map(gpuModelItem);
  const soldOut = rows.find((r) => r.label === 'rtx4090')!;
  assert.equal(soldOut.contextValue, 'gpuModel.soldOut');
  assert.match(soldOut.description!, /^sold out \(0\/1\)/);
  assert.equal(soldOut.icon.id, 'circle-slash');
  assert.match(soldOut.tooltip, /All 1 in use/);
});

test('rental rows through a lifecycle: pending with reason → ready with spend → "Released by you"', async (t) => {
  const { sim, client } = await apiFixture(t, { coldStartMs: 30_000 });
  const rented = await client.rent({ gpu_model: 'rtx3090', gpu_count: 2, name: 'train' });
  await sim.settled();
  let pod = await client.getPod(rented.pod_id);
  let row = rentalItem(pod, sim.clock.now());
  assert.equal(row.label, 'train');
  assert.equal(row.contextValue, 'rental.pending');
  assert.equal(row.icon.id, 'loading~spin');
  assert.match(row.description!, /^rtx3090 × 2 · Pending: starting · 0s · 20 credits$/); // the first minute, in advance

  await sim.clock.advance(30_000);
  pod = await client.getPod(rented.pod_id);
  assert.equal(pod.ready, true);
  await sim.clock.advance(10 * 60_000);
  pod = await client.getPod(rented.pod_id);
  row = rentalItem(pod, sim.clock.now());
  assert.equal(row.contextValue, 'rental.ready');
  assert.equal(row.icon.id, 'vm-running');
  // 2 × 600 credits/h = 20 credits/min, charged in advance: 10.5 min since rent → 11 charges.
  assert.match(row.description!, /^rtx3090 × 2 · Running · 10m · 220 credits$/);
  assert.match(row.tooltip, /Rate: 1 200 credits\/h \(\$0\.80\/h\)/);

  await client.release(rented.pod_id);
  await sim.settled();
  pod = await client.getPod(rented.pod_id);
  row = rentalItem(pod, sim.clock.now());
  assert.equal(row.contextValue, 'rental.ended');
  assert.equal(phaseText(pod), 'Released by you');
  assert.match(row.description!, /Released by you/);
  assert.equal(row.icon.id, 'vm-outline');
});

test('end reasons in plain words, with a warning icon for the unexpected ones', async (t) => {
  const { sim, client } = await apiFixture(t);
  const cases: [string, RegExp][] = [
    ['out_of_credits', /^Ended: out of credits$/],
    ['evicted_by_kubelet:OutOfephemeral-storage', /^Evicted: disk full — raise ephemeral storage$/],
    ['evicted_by_kubelet:OOMKilled', /^Evicted: out of memory$/],
    ['auto_idle', /^Ended: idle for 24 h$/],
  ];
  for (const [reason, words] of cases) {
    const r = await client.rent({ gpu_model: 'v100' });
    await sim.settled();
    await sim.endPod(r.pod_id, reason as 'auto_idle');
    await sim.settled();
    const pod = await client.getPod(r.pod_id);
    assert.match(phaseText(pod), words, reason);
    const row = rentalItem(pod, sim.clock.now());
    assert.equal(row.contextValue, 'rental.ended');
    assert.equal(row.icon.id, 'warning');
  }
});

test('a bad image never starts: "Pending: ImagePullBackOff…" with a warning icon, later "Never started: …"', async (t) => {
  const { sim, client } = await apiFixture(t);
  const r = await client.rent({ gpu_model: 'v100', image: 'ghcr.io/nobody/nothing:1' });
  await sim.settled();
  let pod = await client.getPod(r.pod_id);
  let row = rentalItem(pod, sim.clock.now());
  assert.match(row.description!, /Pending: ImagePullBackOff/);
  assert.equal(row.icon.id, 'warning');
  await sim.clock.advance(6 * 60_000);
  await sim.settled();
  pod = await client.getPod(r.pod_id);
  row = rentalItem(pod, sim.clock.now());
  assert.equal(row.contextValue, 'rental.ended');
  assert.match(row.description!, /Never started: /);
  assert.match(row.description!, /0 credits$/, 'a failed start costs nothing');
});

test('account rows and the status bar from /me and the pods; warning under an hour left', async (t) => {
  const { sim, client } = await apiFixture(t, { credits: 3_000 });
  let pods = await client.listPods();
  let me = await client.getMe();
  assert.equal(statusBarModel(pods, me, sim.clock.now(), sim.clock.now()), undefined, 'hidden when nothing runs');
  let rows = accountItems({ me, pods, tokenSource: 'environment', apiBase: sim.apiBase, now: sim.clock.now() });
  const byId = (id: string) => rows.find((r) => r.id === id)!;
  assert.match(byId('account:user').description!, /via \$KGPU_API_TOKEN/);
  assert.equal(byId('account:balance').description, '3 000 credits ($2.00)');
  assert.equal(byId('account:burn').description, 'nothing running');
  assert.equal(byId('account:quota').description, '0 of 4 in use');

  await client.rent({ gpu_model: 'rtx3090', gpu_count: 2 }); // 1 200 credits/h
  await sim.settled();
  pods = await client.listPods();
  me = await client.getMe();
  rows = accountItems({ me, pods, tokenSource: 'stored', apiBase: sim.apiBase, now: sim.clock.now() });
  const burn = rows.find((r) => r.id === 'account:burn')!;
  assert.equal(burn.description, '1 200 credits/h ($0.80/h) · 1 pod');
  // The first minute is charged at once: 2 980 credits at 1 200/h.
  assert.equal(rows.find((r) => r.id === 'account:timeLeft')!.description, '2h29m');
  assert.equal(rows.find((r) => r.id === 'account:quota')!.description, '2 of 4 in use');
  let bar = statusBarModel(pods, me, sim.clock.now(), sim.clock.now())!;
  assert.equal(bar.text, '$(chip) 2 GPUs · $0.80/h · 2h29m left');
  assert.equal(bar.warning, false);

  // 100 minutes later 101 minutes are billed (2 020 credits): 980 left = 49 min → warning.
  await sim.clock.advance(100 * 60_000);
  pods = await client.listPods();
  me = await client.getMe();
  bar = statusBarModel(pods, me, sim.clock.now(), sim.clock.now())!;
  assert.equal(bar.text, '$(chip) 2 GPUs · $0.80/h · 49m left');
  assert.equal(bar.warning, true);
  const warnRow = accountItems({ me, pods, tokenSource: 'stored', apiBase: sim.apiBase, now: sim.clock.now() }).find(
    (r) => r.id === 'account:timeLeft',
  )!;
  assert.equal(warnRow.icon.id, 'warning');
});

test('between refreshes the balance is estimated from the burn rate, never below zero', () => {
  const pods = [
    {
      pod_id: 'p',
      name: 'p',
      gpu_model: 'rtx4090',
      gpu_count: 1,
      price_per_hour_credits: 1000,
      phase: 'Running',
      ready: true,
      created_at: new Date(0).toISOString(),
    },
  ] as never[];
  assert.equal(estimatedBalance({ credits: 1000 }, pods, 0, 30 * 60_000), 500);
  assert.equal(estimatedBalance({ credits: 1000 }, pods, 0, 5 * 3_600_000), 0);
  assert.equal(estimatedBalance({ credits: 1000 }, pods, undefined, 5 * 3_600_000), 1000);
});

test('ages are compact and never negative', () => {
  assert.equal(formatAge(-5), '0s');
  assert.equal(formatAge(59_000), '59s');
  assert.equal(formatAge(61 * 60_000), '1h01m');
  assert.equal(formatAge(50 * 3_600_000), '2d2h');
});

// Simulator REST: billing per simulated minute (N × rate, 0-GPU pods at the class rate), running
// out of credits, the idle clock (12 h warning, 24 h auto_idle unless the pod is busy) — all on
// the simulated clock (advance()), never wall time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimClockImpl } from '../../sim/clock';
import { call, rentReady, startSim } from './rest-fixture';
import { waitFor } from '../wait-for';

const MIN = 60_000;
const HOUR = 60 * MIN;
const r6 = (n: number): number => Math.round(n * 1e6) / 1e6;

test('the clock fires due timers in order, each at its own time, and only when advanced (speed 0)', async () => {
  const clock = new SimClockImpl(0, 1_000_000);
  const seen: [string, number][] = [];
  clock.at(1_000_300, () => void seen.push(['c', clock.now()]));
  clock.at(1_000_100, () => {
    seen.push(['a', clock.now()]);
    clock.at(1_000_200, () => void seen.push(['b', clock.now()]));
  });
  clock.at(1_000_900, () => void seen.push(['late', clock.now()]));
  assert.equal(clock.now(), 1_000_000);
  await clock.advance(500);
  assert.deepEqual(seen, [
    ['a', 1_000_100],
    ['b', 1_000_200],
    ['c', 1_000_300],
  ]);
  assert.equal(clock.now(), 1_000_500);
  assert.equal(clock.pendingTimers, 1);
  clock.stop();
});

test('billing: every simulated minute, N × the per-GPU rate; a 0-GPU pod bills the class rate', async (t) => {
  const sim = await startSim(t, { credits: 10_000 });
  const three = (await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', gpu_count: 3, name: 'three' } })).body;
  const zero = (await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100', gpu_count: 0, name: 'zero' } })).body;
  assert.equal(three.price_per_hour_credits, 1800);
  assert.equal(zero.price_per_hour_credits, 600);
  // First minute in advance: 30 + 10.
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 10_000 - 40);
  await sim.clock.advance(59_999);
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 10_000 - 40, 'nothing more inside the first minute');
  await sim.clock.advance(1);
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 10_000 - 80);
  await sim.clock.advance(9 * MIN);
  // 11 minutes paid (the first in advance, then one at each of 10 minute marks).
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 10_000 - 440);
  assert.equal((await call(sim, 'GET', `/pods/${three.pod_id}`)).body.credits_spent, 330);
  assert.equal((await call(sim, 'GET', `/pods/${zero.pod_id}`)).body.credits_spent, 110);
  assert.equal((await call(sim, 'GET', '/me')).body.credits, 9560);
});

test('balance reaching zero ends every pod with out_of_credits', async (t) => {
  const sim = await startSim(t, { credits: 100 });
  const a = await rentReady(sim, { gpu_model: 'rtx3080', name: 'a' }); // 5 per minute
  const b = await rentReady(sim, { gpu_model: 'v100', name: 'b' }); // 10 per minute
  const start = sim.clock.now();
  // 15 at once, then 15 a minute: 100 − 15 − 5×15 = 10 after 5 minutes; the 6th minute runs dry.
  await sim.clock.advance(5 * MIN);
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 10);
  assert.equal((await call(sim, 'GET', `/pods/${a}`)).body.phase, 'Running');
  await sim.clock.advance(MIN);
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, 0);
  for (const id of [a, b]) {
    const pod = (await call(sim, 'GET', `/pods/${id}`)).body;
    assert.equal(pod.end_reason, 'out_of_credits');
    assert.equal(pod.phase, 'Ended');
    assert.equal(pod.ended_at, new Date(start + 6 * MIN).toISOString());
  }
  assert.equal(
    r6((await call(sim, 'GET', `/pods/${a}`)).body.credits_spent + (await call(sim, 'GET', `/pods/${b}`)).body.credits_spent),
    100,
    'exactly the balance was spent',
  );
  // And no new rental while broke.
  assert.equal((await call(sim, 'POST', '/pods', { body: { gpu_model: 'rtx3080' } })).status, 402);
});

test('idle clock: idle_warning after 12 h without SSH activity, SSH activity resets it, auto_idle at 24 h', async (t) => {
  const sim = await startSim(t, { credits: 1e9 });
  const id = await rentReady(sim, { gpu_model: 'v100' });
  await sim.clock.advance(12 * HOUR - MIN);
  let pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.idle_warning, false);
  assert.equal(pod.idle_seconds, 12 * 3600 - 60);
  await sim.clock.advance(MIN);
  pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.idle_warning, true);
  assert.equal(pod.idle_seconds, 12 * 3600);
  // Exec is not SSH activity (the contract counts SSH only) …
  await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['true'] } });
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.idle_warning, true);
  // … the bastion's report of activity is.
  sim.state.noteSshActivity(id);
  pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.idle_warning, false);
  assert.equal(pod.idle_seconds, 0);
  assert.equal(pod.last_activity_at, new Date(sim.clock.now()).toISOString());
  const activeAt = sim.clock.now();
  await sim.clock.advance(24 * HOUR - MIN);
  assert.equal((await call(sim, 'GET', `/pods/${id}`)).body.phase, 'Running');
  await sim.clock.advance(MIN);
  pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.end_reason, 'auto_idle');
  assert.equal(pod.phase, 'Ended');
  assert.equal(pod.ended_at, new Date(activeAt + 24 * HOUR).toISOString());
});

test('a busy pod (a process using CPU) gets no idle warning and is not reaped: its idle clock resets instead', async (t) => {
  const sim = await startSim(t, { credits: 1e9 });
  const id = await rentReady(sim, { gpu_model: 'v100' });
  const spin = await call(sim, 'POST', `/pods/${id}/exec`, {
    body: { cmd: ['sh', '-c', "setsid -f sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1"] },
  });
  assert.equal(spin.body.exit_code, 0, spin.text);
  // `setsid -f` returns before the loop runs: wait until the pod's load probe sees it, so the
  // 12 h probe below measures a spinning process, not one still being forked.
  const handle = sim.state.pods.get(id)?.handle;
  assert.ok(handle, 'pod has a runtime handle');
  await waitFor('the spinning process to show up as load', () => handle.isBusy(), 60_000);
  await sim.clock.advance(12 * HOUR);
  const warned = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(warned.idle_warning, false, 'probed busy at 12 h: no warning');
  assert.equal(warned.idle_seconds, 0);
  await sim.clock.advance(24 * HOUR);
  const pod = (await call(sim, 'GET', `/pods/${id}`)).body;
  assert.equal(pod.phase, 'Running', 'not reaped');
  assert.equal(pod.end_reason, null);
  assert.equal(pod.idle_warning, false);
  assert.equal(pod.idle_seconds, 0);
  await call(sim, 'DELETE', `/pods/${id}`); // kills the spinner with the pod
});

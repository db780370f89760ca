/** The cost helpers against the simulator's real billing: burn rate, time left and spend agree with what it deducts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture } from '../api/api-fixture';
import { burnRatePerHour, creditsSpentBetween, formatTimeLeft, podRatePerHour, timeLeftMs } from '../../../../src/kgpu/index';

test('burn rate, spend over an interval and time left match the simulator’s per-minute billing', async (t) => {
  const { sim, client } = await apiFixture(t, { credits: 10_000 });
  const t0 = sim.clock.now();
  const a = await client.rent({ name: 'two', gpu_model: 'v100', gpu_count: 2 }); // 2 × 600
  const b = await client.rent({ name: 'cpu', gpu_model: 'rtx3080', gpu_count: 0 }); // class rate 300
  const pods = await client.listPods();
  assert.equal(burnRatePerHour(pods), 1_500);
  assert.equal(podRatePerHour(pods.find((p) => p.pod_id === a.pod_id)!), 1_200);

  // 90 simulated minutes pass; then `b` is released and 30½ more pass (off a minute boundary).
  await sim.clock.advance(90 * 60_000);
  await client.release(b.pod_id);
  await sim.settled();
  await sim.clock.advance(30 * 60_000 + 30_000);
  const now = sim.clock.now();
  const after = await client.listPods();
  const balance = (await client.getBalance()).credits;

  const spent = creditsSpentBetween(after, t0, now);
  assert.ok(Math.abs(10_000 - balance - spent) < 1, `the simulator deducted ${10_000 - balance}, the helper says ${spent}`);
  for (const p of after) assert.ok(Math.abs((p.credits_spent ?? 0) - creditsSpentBetween([p], t0, now)) < 1, p.pod_id);

  // Only `a` still burns: 1 200/h.
  assert.equal(burnRatePerHour(after), 1_200);
  assert.equal(timeLeftMs(balance, 1_200), (balance / 1_200) * 3_600_000);
  assert.match(formatTimeLeft(balance, 1_200), /^\dh\d\dm$/);
});

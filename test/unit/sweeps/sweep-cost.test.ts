/**
 * A sweep's cost against the simulator's billing (issue 23, "the cost estimate matches the
 * simulator's billing"), on its frozen clock: what Run Sweep… shows before starting (the pods'
 * rate per hour together) is what the simulator deducts over one hour of its clock, and a run's cost
 * (rate × duration) is what it deducts per minute of that rental, prorated to the run's duration.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startSimulator, type Simulator } from '../../sim/index';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import type { Pod } from '../../../src/kgpu/api/api-types';
import { MemoryHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { podRatePerHour } from '../../../src/kgpu/model/cost';
import { sweepRatePerHour } from '../../../src/kgpu/sweeps/sweep-cost';
import { newSweepPlan, Sweep } from '../../../src/kgpu/sweeps/sweep';
import { sweepRow } from '../../../src/kgpu/sweeps/sweep-view-model';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';

let sim: Simulator;
let client: KgpuClient;
let tmp: string;
const pods: Pod[] = [];
const keys = new Map<string, string>();
const connectors: PodConnector[] = [];

before(async () => {
  sim = await startSimulator({ clockSpeed: 0 });
  client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-sweep-cost-'));
  for (const model of ['rtx3080', 'rtx5090']) {
    const key = throwawayEd25519();
    const rented = await client.rent({ gpu_model: model, ssh_pubkey: key.public });
    pods.push(await client.waitUntilReady(rented.pod_id, { intervalMs: 20, pollFloorMs: 0 }));
    keys.set(rented.pod_id, key.private);
  }
});
after(async () => {
  for (const c of connectors) c.dispose();
  await client?.close();
  await sim?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** What the simulator deducts while its clock moves on by `ms`. */
async function billed(ms: number): Promise<number> {
  const before = (await client.getBalance()).credits;
  await sim.clock.advance(ms);
  return before - (await client.getBalance()).credits;
}

test("the per-hour total shown before a sweep starts is what the simulator bills for its pods over an hour of its clock; a run's cost is its per-minute billing prorated", async () => {
  const perHour = sweepRatePerHour(pods);
  assert.ok(perHour > 0);
  assert.ok(Math.abs((await billed(60 * 60_000)) - perHour) < 1e-6, `shown ${perHour}/h`);

  const dir = path.join(tmp, 'p');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'train.py'), 'import time\ntime.sleep(0.5)\nprint("done")\n');
  const hostKeys = new MemoryHostKeyStore();
  const runner = new JobRunner({
    commands: async (p) => {
      const c = new PodConnector({ host: sim.sshHost, port: sim.sshPort, privateKey: keys.get(p)!, hostKeys, readyTimeoutMs: 10_000 });
      connectors.push(c);
      return podCommands(c);
    },
    pollMs: 0,
  });
  const rate = new Map(pods.map((p) => [p.pod_id, podRatePerHour(p)!]));
  const plan = newSweepPlan({
    name: 'train.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'train.py') }, python: 'python3' },
    pods: pods.map((p) => p.pod_id),
    runs: [[], []],
  });
  const sweep = new Sweep(plan, { runner, env: () => ({}), ratePerHour: (p) => rate.get(p) }).start();
  await sweep.done;
  assert.deepEqual(
    plan.runs.map((r) => r.state),
    ['succeeded', 'succeeded'],
  );
  // What the simulator bills for one minute of the first pod alone (the other released).
  await client.release(pods[1].pod_id);
  await sim.clock.advance(60_000);
  const perMinute = await billed(60_000);
  assert.ok(Math.abs(perMinute - podRatePerHour(pods[0])! / 60) < 1e-9);
  const onFirst = plan.runs.filter((r) => r.podId === pods[0].pod_id);
  assert.ok(onFirst.length > 0);
  for (const r of onFirst) {
    assert.ok(r.durationMs! > 0);
    assert.ok(Math.abs(r.credits! - (perMinute * r.durationMs!) / 60_000) < 1e-9, `run ${r.index}: ${r.credits} vs ${perMinute}/min`);
  }
  const total = plan.runs.reduce((s, r) => s + r.credits!, 0);
  assert.match(sweepRow(plan).description, /· 2 pods/);
  assert.ok(total > 0);
  sweep.dispose();
  runner.dispose();
});

/**
 * The idle guard and "Release when done" against the whole simulator (REST, billing on its
 * simulated clock, bastion, pods): real nvidia-smi telemetry through the pod agent, stamped with
 * the simulator's clock, which the test moves. The guard asks once after 30 idle minutes (not
 * before, not while a job runs, not again after Keep; again an hour after "Remind me in 1 h"; anew
 * after the pod was busy), and Release ends the billing. Release when done downloads the chosen
 * paths when the job ends and then releases; a failed download keeps the pod.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AgentClient } from '../../../src/kgpu/agent';
import { formatDollarsPerHour, podRatePerHour } from '../../../src/kgpu/model/cost';
import { startJob } from '../../../src/kgpu/jobs';
import { downloadFromPod } from '../../../src/kgpu/transfer/pod-download';
import { execStream } from '../../../src/kgpu/ssh/ssh-exec';
import {
  GpuTelemetry,
  IdleGuard,
  idleGuardMessage,
  ReleaseWhenDone,
  type GpuSnapshot,
  type ReleaseOutcome,
  type ReleasePlan,
} from '../../../src/kgpu/telemetry';
import { startFleet, waitFor, type Fleet } from '../reliability/fleet-fixture';

const MIN = 60_000;
const idleSinceOf = (g: IdleGuard): number => {
  const v = g.idleSinceMs;
  assert.ok(v !== undefined, 'the pod is judged idle');
  return v;
};
let f: Fleet;
before(async () => {
  f = await startFleet(2);
  for (const a of f.sim.state.accounts.values()) a.credits = 1e9;
});
after(async () => {
  await f?.stop();
});

test("the idle guard asks once after 30 idle minutes on the simulator's clock; Remind, Keep, busy and Release", async () => {
  const pod = f.pods[0];
  const connector = pod.connector();
  const client = new AgentClient({ exec: (cmd, o) => execStream(connector, cmd, o) });
  const telemetry = new GpuTelemetry({ openStream: (t, o) => client.openStream(t, o), now: () => f.sim.clock.now() });
  const guard = new IdleGuard(() => 30);
  const asked: number[] = [];
  const snaps: GpuSnapshot[] = [];
  let jobRunning = false;
  telemetry.onDidSample((s) => {
    snaps.push(s);
    if (guard.observe(s, jobRunning)) asked.push(s.at);
  });
  /** Wait until `n` more snapshots arrived (each judged by the guard). */
  const ticks = async (n: number, what: string): Promise<void> => {
    const start = snaps.length;
    await waitFor(`${n} snapshots (${what})`, () => snaps.length >= start + n, 60_000);
  };
  try {
    telemetry.start();
    await waitFor('the pod to be judged idle', () => guard.idleSinceMs !== undefined, 60_000);
    const idleSince = guard.idleSinceMs as number;

    await f.sim.clock.advance(29 * MIN);
    await ticks(2, '29 min');
    assert.deepEqual(asked, [], 'not before 30 minutes');

    // A job of this window runs: never idle, whatever the GPUs say.
    jobRunning = true;
    await ticks(2, 'job running');
    assert.equal(guard.idleSinceMs, undefined);
    jobRunning = false;
    await ticks(1, 'idle again');
    const idleAgain = idleSinceOf(guard);
    assert.ok(idleAgain >= idleSince + 29 * MIN);

    await f.sim.clock.advance(30 * MIN);
    await waitFor('the question', () => asked.length === 1, 60_000);
    assert.ok(guard.pending);
    await ticks(3, 'still idle, question open');
    assert.equal(asked.length, 1, 'asked once');

    const p = await f.client.getPod(pod.podId);
    const text = idleGuardMessage(p.gpu_model, f.sim.clock.now() - idleSinceOf(guard), formatDollarsPerHour(podRatePerHour(p) ?? 0));
    assert.match(text, /idle for 30 min at \$\d+\.\d{2}\/h$/);

    // Remind me in 1 h: silent for the hour, asked again after it.
    guard.answer('remind', f.sim.clock.now());
    await f.sim.clock.advance(59 * MIN);
    await ticks(2, '59 min after Remind');
    assert.equal(asked.length, 1);
    await f.sim.clock.advance(2 * MIN);
    await waitFor('the reminder', () => asked.length === 2, 60_000);

    // Keep: not asked again while it stays idle…
    guard.answer('keep', f.sim.clock.now());
    await f.sim.clock.advance(3 * 60 * MIN);
    await ticks(2, '3 h after Keep');
    assert.equal(asked.length, 2);

    // …but after the GPUs were busy and went idle for 30 minutes again, yes.
    const busy = await client.openStream({ kind: 'process', argv: ['python3', '-c', 'import os\nos.fork()\nwhile True: pass'] });
    busy.resume();
    await waitFor('the busy process to reset the idle clock', () => guard.idleSinceMs === undefined, 60_000);
    busy.destroy();
    await waitFor('idle again', () => guard.idleSinceMs !== undefined, 60_000);
    await f.sim.clock.advance(31 * MIN);
    await waitFor('the question after the busy spell', () => asked.length === 3, 60_000);

    // Release: the pod ends and billing stops.
    guard.answer('release', f.sim.clock.now());
    telemetry.stop();
    await f.client.release(pod.podId);
    const ended = await f.client.getPod(pod.podId);
    assert.notEqual(ended.phase, 'Running');
    assert.equal(ended.end_reason, 'returned');
  } finally {
    telemetry.dispose();
    client.dispose();
  }
});

test('Release when done: the chosen paths are downloaded when the job ends, then the pod is released; a failed download keeps the pod', async () => {
  const pod = f.pods[1];
  const runner = f.runner({ pollMs: 100 });
  const local = f.tmp('rwd');
  const saved: ReleasePlan[][] = [];
  const released: string[] = [];
  const plans = new ReleaseWhenDone({
    download: (podId, paths, dir) => downloadFromPod(pod.connector(), paths, dir),
    release: async (podId) => {
      released.push(podId);
      return f.client.release(podId);
    },
    save: (all) => saved.push(all),
  });
  const outcomes: ReleaseOutcome[] = [];
  runner.onDidEnd((e) => void plans.jobEnded(e.job.podId, e.job.info).then((o) => o && outcomes.push(o)));

  // 1. A path that the job never writes: the download fails, the pod stays rented.
  // Each job waits for its go file, so it is seen running before it ends.
  const bad = await startJob(pod.commands(), { command: 'while [ ! -e go1 ]; do sleep 0.1; done' });
  plans.add({ podId: pod.podId, jobId: bad.id, paths: ['/workspace/never-written'], localDir: local });
  assert.deepEqual(
    saved.at(-1)?.map((p) => p.jobId),
    [bad.id],
    'plans are saved (they survive a reload)',
  );
  await runner.refresh(pod.podId);
  assert.equal(runner.get(pod.podId, bad.id)?.info.status.state, 'running');
  await pod.sh('touch /workspace/go1');
  await waitFor('the first outcome', () => outcomes.length === 1, 60_000);
  assert.equal(outcomes[0].kind, 'kept');
  assert.deepEqual(released, []);
  assert.equal((await f.client.getPod(pod.podId)).phase, 'Running');
  assert.equal(plans.has(pod.podId, bad.id), false);

  // 2. The job writes its results; they are downloaded, then the pod is released.
  const good = await startJob(pod.commands(), {
    command: 'while [ ! -e go2 ]; do sleep 0.1; done; mkdir -p out && echo result > out/r.txt && echo more > out/s.txt',
  });
  plans.add({ podId: pod.podId, jobId: good.id, paths: ['/workspace/out'], localDir: local });
  await runner.refresh(pod.podId);
  assert.equal(runner.get(pod.podId, good.id)?.info.status.state, 'running');
  assert.equal(fs.existsSync(path.join(local, 'out')), false, 'nothing downloaded before the job ends');
  await pod.sh('touch /workspace/go2');
  await waitFor('the second outcome', () => outcomes.length === 2, 60_000);
  const o = outcomes[1];
  assert.equal(o.kind, 'released', JSON.stringify(o));
  assert.equal(fs.readFileSync(path.join(local, 'out', 'r.txt'), 'utf8'), 'result\n');
  assert.equal(fs.readFileSync(path.join(local, 'out', 's.txt'), 'utf8'), 'more\n');
  assert.deepEqual(released, [pod.podId]);
  const ended = await f.client.getPod(pod.podId);
  assert.equal(ended.end_reason, 'returned');
  assert.deepEqual(saved.at(-1), []);
});

test('release-when-done plans: restored from saved data (malformed entries dropped), cancelled, dropped with their pod', async () => {
  const plans = new ReleaseWhenDone({ download: async () => assert.fail('no download'), release: async () => assert.fail('no release') }, [
    { podId: 'a', jobId: '1', paths: [] },
    { podId: 'a', jobId: '2', paths: ['/x'], localDir: '/tmp/x' },
    { podId: 'b' } as unknown as ReleasePlan,
    { podId: 'c', jobId: '3', paths: [5] } as unknown as ReleasePlan,
  ]);
  assert.deepEqual(
    plans.all.map((p) => p.jobId),
    ['1', '2'],
  );
  assert.throws(() => plans.add({ podId: 'a', jobId: '9', paths: ['/y'] }), /local folder/);
  assert.equal(plans.cancel('a', '1'), true);
  plans.podEnded('a');
  assert.deepEqual(plans.all, []);
  // A job that ended with its pod needs no release.
  const p2 = new ReleaseWhenDone({ download: async () => assert.fail('no download'), release: async () => assert.fail('no release') }, [
    { podId: 'a', jobId: 'j', paths: [] },
  ]);
  const o = await p2.jobEnded('a', {
    id: 'j',
    name: 'j',
    command: 'x',
    cwd: '/',
    createdAt: 0,
    status: { state: 'lost', reason: 'returned' },
    logSize: 0,
  });
  assert.equal(o?.kind, 'pod-gone');
});

/**
 * Sweeps across pods (issue 23), editor-free, against the simulator with two ready pods: four
 * argument sets run as four normal jobs over the two pods (each pod one at a time; the folder
 * synced by a pod's first run only), each job's log has its own arguments, the metrics it printed
 * (or appended to metrics.jsonl, read while the run goes on) reach the Sweeps view's rows, the cost
 * is the pod's rate × the job's duration; a pod released mid-sweep has its run re-queued on the
 * other; a sweep is found again after a "reload" (a new runner and Sweep.resume from the stored
 * plan). Large files through transit objects: sweep-transit.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { parseSweepLine } from '../../../src/kgpu/sweeps/grid';
import { readSweepFile } from '../../../src/kgpu/sweeps/sweep-file';
import { newSweepPlan, storedSweeps, Sweep, type SweepPlan } from '../../../src/kgpu/sweeps/sweep';
import { sweepRunRows } from '../../../src/kgpu/sweeps/sweep-view-model';
import { MapStore, waitFor } from '../kgpu/jobs/run-fixture';
import { useSweepPods } from './sweep-fixture';

const f = useSweepPods();
const { pods, commands, sh, project, rates, isPodLive } = f;

function sweepOf(runner: JobRunner, plan: SweepPlan, store: MapStore, rate: Map<string, number>): Sweep {
  return new Sweep(plan, { runner, env: () => ({}), ratePerHour: (p) => rate.get(p), store, isPodLive });
}

test('4 argument sets over 2 pods: 4 jobs, the right arguments in each log, the metrics in the view model, cost = rate × duration', async () => {
  const dir = project('grid', false);
  const runner = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const store = new MapStore();
  const rate = await rates();
  const plan = newSweepPlan({
    name: 'train.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'train.py') }, python: 'python3' },
    pods: pods.slice(0, 2),
    runs: parseSweepLine('--lr 0.5,0.25 --bs 2,4').runs,
  });
  const sweep = sweepOf(runner, plan, store, rate).start();
  let maxRunningPerPod = 0;
  sweep.onDidChange((p) => {
    for (const pod of p.pods)
      maxRunningPerPod = Math.max(maxRunningPerPod, p.runs.filter((r) => r.podId === pod && r.state === 'running').length);
  });
  await sweep.done;
  assert.equal(plan.state, 'done');
  assert.deepEqual(
    plan.runs.map((r) => r.state),
    ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
  );
  assert.equal(maxRunningPerPod, 1, 'one run at a time per pod');
  assert.deepEqual(new Set(plan.runs.map((r) => r.podId)), new Set(pods.slice(0, 2)), 'both pods ran some');
  for (const r of plan.runs) {
    const log = await sh(r.podId!, `cat /workspace/.kgpu/jobs/${r.jobId}/log`);
    const lr = r.args[1];
    const bs = r.args[3];
    assert.match(log, new RegExp(`^args lr=${Number(lr)} bs=${bs} `, 'm'), `run ${r.index}: ${log}`);
    assert.equal(r.credits, (rate.get(r.podId!)! * r.durationMs!) / 3_600_000);
  }
  const rows = sweepRunRows(plan, { by: 'metric', metric: 'loss' });
  assert.deepEqual(
    rows.map((r) => r.metrics),
    [
      { started: 1, loss: 0.5, acc: 0.02 },
      { started: 1, loss: 1, acc: 0.02 },
      { started: 1, loss: 1, acc: 0.04 },
      { started: 1, loss: 2, acc: 0.04 },
    ],
  );
  assert.deepEqual(
    storedSweeps(store).map((p) => [p.id, p.state]),
    [[plan.id, 'done']],
  );
  sweep.dispose();
  runner.dispose();
});

test('a pod released mid-sweep: its run is re-queued on the other pod, once; a reload finds the sweep again', async () => {
  const dir = project('requeue', true);
  const store = new MapStore();
  const rate = await rates();
  let runner = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const [p1, p2] = [pods[1], pods[2]];
  const plan = newSweepPlan({
    name: 'train.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'train.py') }, python: 'python3' },
    pods: [p1, p2],
    runs: parseSweepLine('--bs 1,2,3').runs,
  });
  let sweep = sweepOf(runner, plan, store, rate).start();
  await waitFor(
    'a run started on each pod',
    () => plan.runs.filter((r) => r.state === 'running' && r.metrics.started === 1).length === 2,
    60_000,
  );
  const onP2 = plan.runs.find((r) => r.podId === p2)!;
  const jobOnP2 = onP2.jobId;

  // The pod ends; the editor's pod watcher tells the runner (as src/jobs/jobs-view.ts does).
  await f.client.release(p2);
  runner.podEnded(p2, 'released');
  await waitFor(
    'the run re-queued',
    () => onP2.requeuedFrom !== undefined || (onP2.state === 'failed' && new Error(JSON.stringify(onP2))),
    60_000,
  );
  assert.deepEqual(onP2.requeuedFrom, { podId: p2, jobId: jobOnP2 });

  // A window reload: the sweep's plan is stored; a new runner finds its running job again.
  sweep.dispose();
  runner.dispose();
  const stored = storedSweeps(store).find((p) => p.id === plan.id)!;
  assert.ok(stored.runs.some((r) => r.state === 'running' && r.podId === p1));
  runner = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  sweep = Sweep.resume(stored, { runner, env: () => ({}), ratePerHour: (p) => rate.get(p), store, isPodLive });
  sweep.podEnded(p2); // the new window knows p2 has ended
  sweep.start();
  await sh(p1, `rm /workspace/requeue/hold`);
  await sweep.done;
  assert.deepEqual(
    stored.runs.map((r) => r.state),
    ['succeeded', 'succeeded', 'succeeded'],
    JSON.stringify(stored.runs),
  );
  const again = stored.runs[onP2.index];
  assert.equal(again.podId, p1, 're-run on the pod that is left');
  assert.equal(again.requeuedFrom?.podId, p2);
  assert.deepEqual(again.metrics, { started: 1, loss: 0.1 * Number(again.args[1]), acc: Number(again.args[1]) / 100 });
  for (const r of stored.runs)
    assert.equal(r.metrics.loss, 0.1 * Number(r.args[1]), `run ${r.index}'s metrics, also of the run followed again after the reload`);
  sweep.dispose();
  runner.dispose();
});

test('metrics from the metrics.jsonl each run writes (runs from a sweep.yaml): only what the run appended, the tail read bounded, last and best per metric in the rows', async () => {
  const dir = path.join(f.tmp, 'jsonl');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'train.py'),
    `import argparse, json
p = argparse.ArgumentParser()
p.add_argument("--bs", type=int)
a = p.parse_args()
with open("metrics.jsonl", "a") as f:
    if a.bs == 4:
        # a better loss, then more than the bytes read back: out of the tail, not the best
        f.write(json.dumps({"step": -1, "loss": 0.001}) + "\\n")
        f.write((json.dumps({"note": "x" * 1000}) + "\\n") * 300)
    for step, (loss, acc) in enumerate([(1.0, 0.1), (0.5, 0.3), (0.75, 0.2)]):
        f.write(json.dumps({"step": step, "loss": loss * a.bs, "acc": acc}) + "\\n")
print("done", a.bs)
`,
  );
  fs.writeFileSync(path.join(dir, 'sweep.yaml'), '# four runs\ngrid:\n  --bs: [1, 2, 3, 4]\n');
  const spec = (await readSweepFile(path.join(dir, 'sweep.yaml')))!;
  const runner = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const rate = await rates();
  const two = pods.slice(0, 2);
  const plan = newSweepPlan({
    name: 'train.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'train.py') }, python: 'python3' },
    pods: two,
    runs: spec.runs,
  });
  const sweep = new Sweep(plan, { runner, env: () => ({}), ratePerHour: (p) => rate.get(p), commands: async (p) => commands(p) }).start();
  await sweep.done;
  assert.deepEqual(
    plan.runs.map((r) => [r.args, r.state]),
    [1, 2, 3, 4].map((bs) => [['--bs', String(bs)], 'succeeded']),
  );
  // Two runs per pod, appending to the same file: each run's own lines only.
  for (const r of plan.runs) {
    const bs = Number(r.args[1]);
    assert.deepEqual(r.metrics, { loss: 0.75 * bs, acc: 0.2 }, `run ${r.index} last: ${JSON.stringify(r)}`);
    assert.deepEqual(r.best, { loss: 0.5 * bs, acc: 0.3 }, `run ${r.index} best: ${JSON.stringify(r)}`);
  }
  const rows = sweepRunRows(plan, { by: 'metric', metric: 'loss', best: true, descending: true });
  assert.deepEqual(
    rows.map((r) => r.index),
    [3, 2, 1, 0],
  );
  assert.match(rows[2].description, /· loss 1\.5 \(best 1\) · acc 0\.2 \(best 0\.3\)$/);
  sweep.dispose();
  runner.dispose();
});

test("a running run's metrics.jsonl reaches the view model while it runs (read again on the way), not only at its end", async () => {
  const dir = path.join(f.tmp, 'jsonl-live');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'train.py'),
    `import json, os, time
with open("metrics.jsonl", "a") as f:
    f.write(json.dumps({"step": 1, "loss": 0.9}) + "\\n")
    f.flush()
    f.write(json.dumps({"step": 2, "loss": 0.4}) + "\\n")
    f.flush()
while os.path.exists("hold"):
    time.sleep(0.05)
with open("metrics.jsonl", "a") as f:
    f.write(json.dumps({"step": 3, "loss": 0.2}) + "\\n")
`,
  );
  fs.writeFileSync(path.join(dir, 'hold'), '');
  const runner = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const podId = pods[0];
  const plan = newSweepPlan({
    name: 'train.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'train.py') }, python: 'python3' },
    pods: [podId],
    runs: [[]],
  });
  const sweep = new Sweep(plan, { runner, env: () => ({}), commands: async (p) => commands(p), metricsFilePollMs: 200 }).start();
  try {
    const run = plan.runs[0];
    await waitFor('the metrics.jsonl lines in the running run', () => run.metrics.loss === 0.4, 60_000);
    assert.equal(run.state, 'running', 'read while the run goes on');
    assert.equal(run.best?.loss, 0.4);
    assert.match(sweepRunRows(plan, { by: 'index' })[0].description, /loss 0\.4/);
    await sh(podId, `rm -f '/workspace/jsonl-live/hold'`);
    await sweep.done;
    assert.equal(run.state, 'succeeded');
    assert.equal(run.metrics.loss, 0.2);
  } finally {
    sweep.dispose();
    runner.dispose();
  }
});

/**
 * Sweeps across pods (issue 23), editor-free, against the simulator with two ready pods: four
 * argument sets run as four normal jobs over the two pods (each pod one at a time; the folder
 * synced by a pod's first run only), each job's log has its own arguments, the metrics it printed
 * reach the Sweeps view's rows, the cost is the pod's rate × the job's duration; a pod released
 * mid-sweep has its run re-queued on the other; a sweep is found again after a "reload" (a new
 * runner and Sweep.resume from the stored plan); a file above the transit threshold reaches
 * every pod through one transit object.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startSimulator, type Simulator } from '../../sim/index';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { isLivePod } from '../../../src/kgpu/api/api-types';
import { podRatePerHour } from '../../../src/kgpu/model/cost';
import { MemoryHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { podCommands, type PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { largeFiles, TransitFanOut } from '../../../src/kgpu/sweeps/fanout';
import { parseSweepLine } from '../../../src/kgpu/sweeps/grid';
import { readSweepFile } from '../../../src/kgpu/sweeps/sweep-file';
import { sweepFanOut, transitHooks } from '../../../src/kgpu/sweeps/sweep-transit';
import { newSweepPlan, storedSweeps, Sweep, type SweepPlan } from '../../../src/kgpu/sweeps/sweep';
import { sweepRunRows } from '../../../src/kgpu/sweeps/sweep-view-model';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';
import { MapStore, waitFor } from '../kgpu/jobs/run-fixture';

const TRAIN = `import argparse, json, os, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--bs", type=int, default=1)
a = p.parse_args()
print(f"args lr={a.lr} bs={a.bs} pid={os.getpid()}", flush=True)
print(json.dumps({"metric": "started", "value": 1}), flush=True)
while os.path.exists("hold"):
    time.sleep(0.05)
print(json.dumps({"metric": "loss", "value": a.lr * a.bs}))
print(json.dumps({"acc": a.bs / 100, "step": 7}))
`;

let sim: Simulator;
let client: KgpuClient;
let tmp: string;
const pods: string[] = [];
const connectors = new Map<string, PodConnector>();
const all: PodConnector[] = [];
const hostKeys = new MemoryHostKeyStore();
const keys = new Map<string, string>();

function commands(podId: string): PodCommands {
  const c = new PodConnector({ host: sim.sshHost, port: sim.sshPort, privateKey: keys.get(podId)!, hostKeys, readyTimeoutMs: 10_000 });
  all.push(c);
  return podCommands(c);
}
async function sh(podId: string, line: string): Promise<string> {
  const r = await commands(podId).exec(line);
  if (r.exitCode !== 0) throw new Error(`${line}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

before(async () => {
  sim = await startSimulator({ clockSpeed: 0 });
  client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-sweep-test-'));
  for (const model of ['rtx3080', 'rtx5090', 'rtx3090']) {
    const key = throwawayEd25519();
    const rented = await client.rent({ gpu_model: model, ssh_pubkey: key.public });
    await client.waitUntilReady(rented.pod_id, { intervalMs: 20, pollFloorMs: 0 });
    pods.push(rented.pod_id);
    keys.set(rented.pod_id, key.private);
  }
  void connectors;
});
after(async () => {
  for (const c of all) c.dispose();
  await client?.close();
  await sim?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function project(name: string, hold: boolean): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train.py'), TRAIN);
  if (hold) fs.writeFileSync(path.join(dir, 'hold'), '');
  return dir;
}

async function rates(): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const p of pods) m.set(p, podRatePerHour(await client.getPod(p))!);
  return m;
}

async function isPodLive(podId: string): Promise<boolean> {
  return isLivePod(await client.getPod(podId));
}

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
  await client.release(p2);
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

test('a file above the transit threshold goes to every pod through ONE transit object (uploaded once, fetched by each pod), not through the sync', async () => {
  const dir = project('fanout', false);
  fs.mkdirSync(path.join(dir, 'data'));
  const big = crypto.randomBytes(200 * 1024);
  fs.writeFileSync(path.join(dir, 'data', 'big.bin'), big);
  fs.writeFileSync(
    path.join(dir, 'reads.py'),
    'import hashlib, json\nd = open("data/big.bin", "rb").read()\nprint("sha", hashlib.sha256(d).hexdigest())\nprint(json.dumps({"metric": "bytes", "value": len(d)}))\n',
  );
  const calls: string[] = [];
  const counting = {
    createObject: (...a: Parameters<KgpuClient['createObject']>) => (calls.push('create'), client.createObject(...a)),
    uploadToPutUrl: (...a: Parameters<KgpuClient['uploadToPutUrl']>) => (calls.push('put'), client.uploadToPutUrl(...a)),
    getObject: (...a: Parameters<KgpuClient['getObject']>) => (calls.push('get'), client.getObject(...a)),
    deleteObject: (...a: Parameters<KgpuClient['deleteObject']>) => (calls.push('delete'), client.deleteObject(...a)),
  };
  const files = await largeFiles(dir, 64 * 1024);
  assert.deepEqual(
    files.map((f) => f.rel),
    ['data/big.bin'],
  );
  const fanOut = new TransitFanOut(counting, files);
  assert.deepEqual(fanOut.excludes(), ['/data/big.bin']);
  const runner = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const rate = await rates();
  const two = pods.slice(0, 2);
  const plan = newSweepPlan({
    name: 'reads.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'reads.py') }, python: 'python3', exclude: fanOut.excludes() },
    pods: two,
    runs: [[], [], []],
  });
  const sweep = new Sweep(plan, {
    runner,
    env: () => ({}),
    ratePerHour: (p) => rate.get(p),
    beforeFirstRun: async (p) => void (await fanOut.fetchInto(commands(p), '/workspace/fanout')),
    onEnd: () => fanOut.dispose(),
  }).start();
  await sweep.done;
  assert.deepEqual(
    plan.runs.map((r) => [r.state, r.metrics.bytes]),
    [
      ['succeeded', big.length],
      ['succeeded', big.length],
      ['succeeded', big.length],
    ],
    JSON.stringify(plan.runs),
  );
  const sha = crypto.createHash('sha256').update(big).digest('hex');
  for (const r of plan.runs) assert.match(await sh(r.podId!, `cat /workspace/.kgpu/jobs/${r.jobId}/log`), new RegExp(`^sha ${sha}$`, 'm'));
  assert.deepEqual(new Set(plan.runs.map((r) => r.podId)), new Set(two));
  assert.deepEqual(calls, ['create', 'put', 'get', 'get', 'delete'], 'one object, uploaded once, a GET url per pod, deleted at the end');
  // A pod that already has the same bytes fetches nothing.
  const again = new TransitFanOut(counting, files);
  calls.length = 0;
  assert.deepEqual(await again.fetchInto(commands(two[0]), '/workspace/fanout'), { fetched: [], present: ['data/big.bin'] });
  await again.dispose();
  assert.deepEqual(calls, ['create', 'put', 'delete']);
  sweep.dispose();
  runner.dispose();
});

test('metrics from the metrics.jsonl each run writes (runs from a sweep.yaml): only what the run appended, the tail read bounded, last and best per metric in the rows', async () => {
  const dir = path.join(tmp, 'jsonl');
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
  const dir = path.join(tmp, 'jsonl-live');
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

test('a sweep found again after a reload fans its transit objects out to the pod that never fetched them (no new upload) and deletes them at its end', async () => {
  const dir = project('resumefan', true);
  fs.mkdirSync(path.join(dir, 'data'));
  const big = crypto.randomBytes(200 * 1024);
  fs.writeFileSync(path.join(dir, 'data', 'big.bin'), big);
  fs.writeFileSync(
    path.join(dir, 'reads.py'),
    'import hashlib, json, os, time\nprint(json.dumps({"metric": "started", "value": 1}), flush=True)\nwhile os.path.exists("hold"):\n    time.sleep(0.05)\nd = open("data/big.bin", "rb").read()\nprint("sha", hashlib.sha256(d).hexdigest())\nprint(json.dumps({"metric": "bytes", "value": len(d)}))\n',
  );
  const calls: string[] = [];
  let gets = 0;
  let secondGetReached = false;
  const counting = {
    createObject: (...a: Parameters<KgpuClient['createObject']>) => (calls.push('create'), client.createObject(...a)),
    uploadToPutUrl: (...a: Parameters<KgpuClient['uploadToPutUrl']>) => (calls.push('put'), client.uploadToPutUrl(...a)),
    getObject: (...a: Parameters<KgpuClient['getObject']>) => {
      calls.push('get');
      // Window A closes while its second pod asks for the object's link: that pod never fetches.
      if (window === 'A' && ++gets === 2) {
        secondGetReached = true;
        return new Promise<never>(() => undefined);
      }
      return client.getObject(...a);
    },
    deleteObject: (...a: Parameters<KgpuClient['deleteObject']>) => (calls.push('delete'), client.deleteObject(...a)),
  };
  let window: 'A' | 'B' = 'A';
  const rate = await rates();
  const two = [pods[0], pods[1]];
  const storeA = new MapStore();
  const runnerA = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const fanOut = new TransitFanOut(counting, await largeFiles(dir, 64 * 1024));
  const plan = newSweepPlan({
    name: 'reads.py',
    recipe: { target: { kind: 'local', folder: dir, file: path.join(dir, 'reads.py') }, python: 'python3', exclude: fanOut.excludes() },
    pods: two,
    runs: [[], [], []],
  });
  const hooks = (p: SweepPlan, f?: TransitFanOut) =>
    transitHooks(p, sweepFanOut(counting, p, f)!, { commands: async (podId) => commands(podId) });
  const sweepA = new Sweep(plan, {
    runner: runnerA,
    env: () => ({}),
    ratePerHour: (p) => rate.get(p),
    store: storeA,
    ...hooks(plan, fanOut),
  }).start();
  await waitFor('the second pod asks for the link', () => secondGetReached, 60_000);
  await waitFor('the first pod runs its job', () => plan.runs.some((r) => r.jobId && r.metrics.started === 1), 60_000);
  // The reload: what window A had stored is all window B knows.
  const stored = structuredClone(storedSweeps(storeA).find((p) => p.id === plan.id)!);
  sweepA.dispose();
  runnerA.dispose();
  window = 'B';
  const fetchedA = stored.runs.find((r) => r.jobId)!.podId!;
  const neverFetched = two.find((p) => p !== fetchedA)!;
  assert.equal((await commands(neverFetched).exec('test -e /workspace/resumefan/data/big.bin')).exitCode, 1, 'not fetched in window A');
  assert.deepEqual(
    stored.transit?.files.map((f) => [f.rel, !!f.objectId, f.sha256]),
    [['data/big.bin', true, crypto.createHash('sha256').update(big).digest('hex')]],
  );
  assert.deepEqual(calls, ['create', 'put', 'get', 'get']);
  calls.length = 0;

  const storeB = new MapStore();
  await storeB.update('kgpu.sweeps', [stored]);
  const runnerB = new JobRunner({ commands: async (p) => commands(p), pollMs: 0 });
  const sweepB = Sweep.resume(stored, {
    runner: runnerB,
    env: () => ({}),
    ratePerHour: (p) => rate.get(p),
    store: storeB,
    ...hooks(stored),
  }).start();
  await waitFor(
    'a job on the pod that never fetched',
    () => stored.runs.some((r) => r.podId === neverFetched && r.state === 'running' && r.metrics.started === 1),
    60_000,
  );
  for (const p of two) await sh(p, 'rm -f /workspace/resumefan/hold');
  let ended = false;
  void sweepB.done.then(() => (ended = true));
  await waitFor('the resumed sweep to end', () => ended, 120_000);
  assert.deepEqual(
    stored.runs.map((r) => [r.state, r.metrics.bytes]),
    [
      ['succeeded', big.length],
      ['succeeded', big.length],
      ['succeeded', big.length],
    ],
    JSON.stringify(stored.runs),
  );
  assert.ok(stored.runs.some((r) => r.podId === neverFetched));
  assert.deepEqual(calls, ['get', 'delete'], 'the stored object fetched by the other pod, nothing uploaded again, deleted at the end');
  sweepB.dispose();
  runnerB.dispose();
});

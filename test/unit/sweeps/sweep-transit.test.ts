/**
 * Sweeps and large files (issue 23), against the simulator with ready pods: a file above the
 * transit threshold reaches every pod of a sweep through ONE transit object (uploaded once, fetched
 * by each pod), not through the sync; a sweep found again after a reload fans the stored object out
 * to the pod that never fetched it (no new upload) and deletes it at its end. Runs, re-queues and
 * metrics: sweep-run.test.ts; an expired object: sweep-transit-expiry.test.ts.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { KgpuClient } from '../../../src/kgpu/api/api-client';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { largeFiles, TransitFanOut } from '../../../src/kgpu/sweeps/fanout';
import { sweepFanOut, transitHooks } from '../../../src/kgpu/sweeps/sweep-transit';
import { newSweepPlan, storedSweeps, Sweep, type SweepPlan } from '../../../src/kgpu/sweeps/sweep';
import { MapStore, waitFor } from '../kgpu/jobs/run-fixture';
import { useSweepPods } from './sweep-fixture';

const f = useSweepPods();
const { pods, commands, sh, project, rates } = f;

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
    createObject: (...a: Parameters<KgpuClient['createObject']>) => (calls.push('create'), f.client.createObject(...a)),
    uploadToPutUrl: (...a: Parameters<KgpuClient['uploadToPutUrl']>) => (calls.push('put'), f.client.uploadToPutUrl(...a)),
    getObject: (...a: Parameters<KgpuClient['getObject']>) => (calls.push('get'), f.client.getObject(...a)),
    deleteObject: (...a: Parameters<KgpuClient['deleteObject']>) => (calls.push('delete'), f.client.deleteObject(...a)),
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
    createObject: (...a: Parameters<KgpuClient['createObject']>) => (calls.push('create'), f.client.createObject(...a)),
    uploadToPutUrl: (...a: Parameters<KgpuClient['uploadToPutUrl']>) => (calls.push('put'), f.client.uploadToPutUrl(...a)),
    getObject: (...a: Parameters<KgpuClient['getObject']>) => {
      calls.push('get');
      // Window A closes while its second pod asks for the object's link: that pod never fetches.
      if (window === 'A' && ++gets === 2) {
        secondGetReached = true;
        return new Promise<never>(() => undefined);
      }
      return f.client.getObject(...a);
    },
    deleteObject: (...a: Parameters<KgpuClient['deleteObject']>) => (calls.push('delete'), f.client.deleteObject(...a)),
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

/**
 * The job runner with warmStart 'auto': Run Active File (sync in the start's exec, and a file
 * already in the pod) reports warm or cold with the reason, starts a fork server in the background
 * after a cold start for want of one, and the next run — edited — starts warm and runs the edit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobRunner, type RunHandle } from '../../../src/kgpu/jobs/job-runner';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { ensureForkServer, forkServerStatus, type WarmStartSettings } from '../../../src/kgpu/warm';
import { startWarmPod, JOBS_ROOT, type WarmPod } from './warm-fixture';

let w: WarmPod;
let tmp: string;

before(async () => {
  w = await startWarmPod();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-warm-runner-'));
});

after(async () => {
  await w?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function runner(settings: WarmStartSettings | undefined): JobRunner {
  return new JobRunner({
    commands: async () => podCommands(w.fx.connector()),
    syncStateDir: path.join(tmp, 'sync'),
    pollMs: 0,
    jobsRoot: JOBS_ROOT,
    warmStart: settings,
  });
}

async function finish(h: RunHandle): Promise<string> {
  let log = '';
  const r = await h.done;
  log = (await w.sh(`cat ${JOBS_ROOT}/${h.jobId}/log`)).toString();
  assert.equal(r.job.status.state, 'exited');
  return log;
}

test('Run Active File: cold the first time (and a fork server started in the background), warm once it serves, edits seen', async () => {
  const folder = path.join(tmp, 'warmproj');
  fs.mkdirSync(folder);
  const file = path.join(folder, 'main.py');
  fs.writeFileSync(file, 'import numpy, sys\nprint("version 1", sys.argv[1:])\n');
  const r = runner({ mode: 'auto' });
  const first = r.runFile({ podId: w.fx.podId, target: { kind: 'local', folder, file }, python: 'python', args: ['--x', '1'], env: {} });
  assert.equal(await finish(first), "version 1 ['--x', '1']\n");
  assert.deepEqual(await first.startMode, { warm: false, code: 'none', reason: 'no fork server yet' });
  assert.deepEqual(await first.forkServer, { state: 'started' });

  const remote = { python: 'python', cwd: '/workspace/warmproj', script: 'main.py', args: [], env: {} };
  assert.equal((await ensureForkServer(w.pod, w.script, remote, { waitS: 180 })).state, 'ready');
  assert.deepEqual((await forkServerStatus(w.pod, w.script, remote))?.preloaded, ['numpy'], 'learned from the script');

  fs.writeFileSync(file, 'import numpy, sys\nprint("version 2", sys.argv[1:])\n');
  const second = r.runFile({ podId: w.fx.podId, target: { kind: 'local', folder, file }, python: 'python', args: ['--x', '2'], env: {} });
  assert.equal(await finish(second), "version 2 ['--x', '2']\n");
  assert.deepEqual(await second.startMode, { warm: true });
  assert.equal(await second.forkServer, undefined, 'nothing to start');

  // A file already in the pod (its own start exec).
  const inPod = r.runFile({
    podId: w.fx.podId,
    target: { kind: 'pod', path: '/workspace/warmproj/main.py' },
    python: 'python',
    args: ['pod'],
    env: {},
  });
  assert.equal(await finish(inPod), "version 2 ['pod']\n");
  assert.deepEqual(await inPod.startMode, { warm: true });
  r.dispose();
});

test('warmStart off (the default): no start mode, nothing started; kgpu.python a command: cold, said why', async () => {
  const folder = path.join(tmp, 'offproj');
  fs.mkdirSync(folder);
  const file = path.join(folder, 'main.py');
  fs.writeFileSync(file, 'print("off")\n');
  const off = runner(undefined);
  const h = off.runFile({ podId: w.fx.podId, target: { kind: 'local', folder, file }, python: 'python', args: [], env: {} });
  assert.equal(await finish(h), 'off\n');
  assert.equal(await h.startMode, undefined);
  assert.equal(await h.forkServer, undefined);
  off.dispose();
  const cmd = runner({ mode: 'auto' });
  const c = cmd.runFile({ podId: w.fx.podId, target: { kind: 'local', folder, file }, python: 'env python3', args: [], env: {} });
  assert.equal(await finish(c), 'off\n');
  assert.deepEqual(await c.startMode, { warm: false, code: 'unsupported', reason: 'kgpu.python "env python3" is not a plain interpreter' });
  assert.equal(await c.forkServer, undefined);
  cmd.dispose();
});

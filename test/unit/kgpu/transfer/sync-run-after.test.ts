/**
 * syncUp's `runAfter` (src/kgpu/transfer/sync.ts): a command line (a job's start) run at the end of the
 * sync's own exec, only once the pod's copy is known complete. It must see every file as synced —
 * also when the pod's copy changed under us (then the quick exec does not run it; the full sync
 * that follows does) — and it is left to the caller when the sync ran no upload after a probe.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { syncUp } from '../../../../src/kgpu/transfer/sync';
import { startJobsPod, type JobsPod } from '../jobs/jobs-fixture';

let pod: JobsPod;
let tmp: string;
before(async () => {
  pod = await startJobsPod();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-run-after-test-'));
});
after(async () => {
  await pod?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function project(): { local: string; remote: string; state: string; hostRemote: string; seen: () => string; runAfter: string } {
  const id = `ra${++n}`;
  const local = path.join(tmp, id, 'local');
  fs.mkdirSync(local, { recursive: true });
  fs.writeFileSync(path.join(local, 'main.py'), 'main v1\n');
  fs.writeFileSync(path.join(local, 'util.py'), 'util v1\n');
  const out = path.join(pod.fixture.hostDir, `${id}.seen`);
  return {
    local,
    remote: `/workspace/${id}`,
    state: path.join(tmp, id, 'state'),
    hostRemote: path.join(pod.fixture.hostDir, id),
    // What the command saw of the synced folder (it runs there), appended each time it runs.
    runAfter: `cat main.py util.py >> ../${id}.seen`,
    seen: () => fs.readFileSync(out, 'utf8'),
  };
}

test('after a one-line edit the command runs in the same single exec and sees the new file', async () => {
  const p = project();
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  fs.writeFileSync(path.join(p.local, 'main.py'), 'main v2\n');
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, runAfter: p.runAfter });
  assert.equal(r.roundTrips, 1);
  assert.equal(r.uploadedFiles, 1);
  assert.deepEqual(r.ranAfter, { exitCode: 0, stderr: '' });
  assert.equal(p.seen(), 'main v2\nutil v1\n');
});

test('nothing changed: the check and the command in one exec', async () => {
  const p = project();
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, runAfter: p.runAfter });
  assert.equal(r.roundTrips, 1);
  assert.equal(r.uploadedFiles, 0);
  assert.equal(r.ranAfter?.exitCode, 0);
  assert.equal(p.seen(), 'main v1\nutil v1\n');
});

test('a file changed in the pod under us: not run by the quick exec (it would see the stale file), run after the full sync', async () => {
  const p = project();
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  // Someone edits util.py in the pod (same size, another mtime).
  const podUtil = path.join(p.hostRemote, 'util.py');
  const st = fs.statSync(podUtil);
  fs.writeFileSync(podUtil, 'UTIL XX\n');
  fs.utimesSync(podUtil, st.atime, new Date(st.mtimeMs + 5000));
  fs.writeFileSync(path.join(p.local, 'main.py'), 'main v2\n');
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, runAfter: p.runAfter });
  assert.equal(r.roundTrips, 3, 'quick upload, probe, upload of util.py');
  assert.equal(r.ranAfter?.exitCode, 0);
  assert.equal(p.seen(), 'main v2\nutil v1\n', 'the command saw both files as synced, once');
});

test('without local state, when the probe finds nothing to send, the command is left to the caller', async () => {
  const p = project();
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: path.join(p.state, 'fresh'), runAfter: p.runAfter });
  assert.equal(r.uploadedFiles, 0);
  assert.equal(r.ranAfter, undefined);
  assert.throws(() => p.seen(), /ENOENT/);
});

test("the command's failure comes back with its exit code and stderr; the sync itself succeeded", async () => {
  const p = project();
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  fs.writeFileSync(path.join(p.local, 'main.py'), 'main v3\n');
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, runAfter: "echo 'no such dir' >&2; exit 3" });
  assert.deepEqual(r.ranAfter, { exitCode: 3, stderr: 'no such dir\n' });
  assert.equal(fs.readFileSync(path.join(p.hostRemote, 'main.py'), 'utf8'), 'main v3\n');
});

test('names that fill more than one command line in the pod: checked in full, run in one exec, deleted', async () => {
  const p = project();
  // 300 names of 240 bytes: the stat of the files not sent, and their deletion, take two command
  // lines each in the pod (sync-upload.ts chunks them at 64 KiB).
  const names = Array.from({ length: 300 }, (_, i) => `many/${String(i).padStart(3, '0')}-${'x'.repeat(236)}`);
  for (const name of names) {
    fs.mkdirSync(path.join(p.local, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(p.local, name), `${name.slice(5, 8)}\n`);
  }
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  fs.writeFileSync(path.join(p.local, 'main.py'), 'main v2\n');
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, runAfter: p.runAfter });
  assert.equal(r.roundTrips, 1);
  assert.deepEqual(r.ranAfter, { exitCode: 0, stderr: '' });
  assert.equal(p.seen(), 'main v2\nutil v1\n');

  // A file near the end of the list changed in the pod: the quick exec must not run the command.
  const last = path.join(p.hostRemote, names[names.length - 2]);
  const st = fs.statSync(last);
  fs.utimesSync(last, st.atime, new Date(st.mtimeMs + 5000));
  fs.writeFileSync(path.join(p.local, 'main.py'), 'main v3\n');
  const r2 = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, runAfter: p.runAfter });
  assert.equal(r2.roundTrips, 3, 'quick upload (not run), probe, upload of the changed file');
  assert.equal(r2.ranAfter?.exitCode, 0);
  assert.equal(p.seen(), 'main v2\nutil v1\nmain v3\nutil v1\n');

  fs.rmSync(path.join(p.local, 'many'), { recursive: true });
  const r3 = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, deleteRemoved: true });
  assert.equal(r3.deletedFiles, names.length);
  assert.deepEqual(fs.readdirSync(path.join(p.hostRemote, 'many')), []);
});

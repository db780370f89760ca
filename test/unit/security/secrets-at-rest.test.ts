/**
 * Security finding 7: `kgpu.env` values are secrets (API keys, tokens). They reach the job's
 * environment and nothing else: not the command lines sent to the pod (what the pod's
 * /proc/<pid>/cmdline shows for the exec's shell, and the bastion sees), not the job's files in
 * the pod, not the re-run recipes kept in workspaceState — a value from an older version is
 * scrubbed from there on start. Temp key files a crashed window left behind are removed at the
 * next start.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import type { PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { createTempKeyDir, removeStaleTempKeyDirs } from '../../../src/kgpu/ssh/temp-key-files';
import { MapStore, startFleet, type FleetPod } from '../reliability/fleet-fixture';

const SECRET = `sk-live-${randomBytes(12).toString('hex')}`;

/** The pod's commands, recording every command line and whether stdin carried the secret. */
function recording(pod: FleetPod, lines: string[]): PodCommands {
  const real = pod.commands();
  const note = (c: unknown): void =>
    void lines.push(Buffer.isBuffer(c) ? c.toString('latin1') : Array.isArray(c) ? c.join(' ') : String(c));
  return {
    exec: (c, o) => (note(c), real.exec(c, o)),
    execStream: (c, o) => (note(c), real.execStream(c, o)),
  };
}

/** Looks at every process's command line in the pod while it runs, and at its own environment. */
const PROBE = `import os, sys
hits = 0
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if os.environ['WANDB_API_KEY'].encode() in f.read():
                    hits += 1
        except OSError:
            pass
print('cmdline-hits:', hits)
print('env ok:', os.environ.get('WANDB_API_KEY', '')[:8] == 'sk-live-')
`;

test("kgpu.env values: in the job environment only — not in command lines, the pod's job files, or the stored re-run recipe", async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const lines: string[] = [];
  const store = new MapStore();
  const runner = new JobRunner({ commands: async () => recording(pod, lines), store, pollMs: 0 });
  t.after(() => runner.dispose());
  const env = { WANDB_API_KEY: SECRET, PLAIN: 'x' };

  // A local folder (the start rides on the sync's exec) and a file already in the pod (own exec).
  const proj = f.tmp('proj');
  fs.writeFileSync(path.join(proj, 'probe.py'), PROBE);
  fs.writeFileSync(path.join(pod.host('/workspace/probe-in-pod.py')), PROBE);
  const runs = [
    runner.runFile({
      podId: pod.podId,
      target: { kind: 'local', folder: proj, file: path.join(proj, 'probe.py') },
      python: 'python3',
      args: [],
      env,
    }),
    runner.runFile({ podId: pod.podId, target: { kind: 'pod', path: '/workspace/probe-in-pod.py' }, python: 'python3', args: [], env }),
  ];
  const logs: string[] = [];
  for (const h of runs) {
    const chunks: Buffer[] = [];
    const r = await runner.openLog(pod.podId, h.jobId, { from: 0, onData: (b) => void chunks.push(b) }).done;
    assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
    logs.push(Buffer.concat(chunks).toString());
    await h.done;
  }
  for (const log of logs)
    assert.match(log, /cmdline-hits: 0\nenv ok: True\n/, 'the job has the value; no process in the pod shows it in its command line');

  const sent = lines.filter((l) => l.includes(SECRET));
  assert.deepEqual(sent, [], 'no command line sent to the pod carries the value');
  assert.ok(!JSON.stringify([...store.map]).includes(SECRET), 'the stored recipes hold no value');
  assert.equal(
    await pod.sh(`grep -rl -- '${SECRET}' /workspace /tmp 2>/dev/null; true`),
    '',
    'no file in the pod holds it (job files, the env file is gone)',
  );

  // A re-run gets the value from the caller (the settings now), not from storage.
  const rr = runner.rerun(pod.podId, runs[0]!.jobId, { env });
  const again: Buffer[] = [];
  await runner.openLog(pod.podId, rr.jobId, { from: 0, onData: (b) => void again.push(b) }).done;
  assert.match(Buffer.concat(again).toString(), /cmdline-hits: 0\nenv ok: True\n/);
  assert.ok(!lines.some((l) => l.includes(SECRET)));
});

test('a re-run recipe stored with values by an older version is scrubbed on start', () => {
  const store = new MapStore();
  void store.update('kgpu.jobs.recipes', {
    'gpu-rent-x/20261130-000000-000-abcdef': {
      target: { kind: 'pod', path: '/workspace/a.py' },
      python: 'python',
      args: [],
      env: { WANDB_API_KEY: SECRET },
    },
  });
  const runner = new JobRunner({
    commands: async () => {
      throw new Error('unused');
    },
    store,
    pollMs: 0,
  });
  runner.dispose();
  const text = JSON.stringify([...store.map]);
  assert.ok(!text.includes(SECRET), text);
  assert.ok(text.includes('/workspace/a.py'), 'the rest of the recipe is kept');
});

test("temp key files a crashed window left are removed at the next start; a live window's stay", (t) => {
  const root = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'kgpu-sec-keys-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  // A window that crashed: its process is gone.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout);
  const stale = fs.mkdtempSync(path.join(root, `kgpu-keys-${deadPid}-`));
  fs.writeFileSync(path.join(stale, 'gpu-rent-x.key'), '-----BEGIN OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
  // Ours (alive), and something that is not ours.
  const live = createTempKeyDir(root);
  fs.writeFileSync(path.join(live, 'gpu-rent-y.key'), 'k', { mode: 0o600 });
  const other = path.join(root, 'kgpu-keysmith');
  fs.mkdirSync(other);
  assert.match(path.basename(live), new RegExp(`^kgpu-keys-${process.pid}-`));
  assert.equal(fs.statSync(live).mode & 0o077, 0, 'private');

  const removed = removeStaleTempKeyDirs(root);
  assert.deepEqual(removed, [stale]);
  assert.ok(!fs.existsSync(stale), "the crashed window's key file is gone");
  assert.ok(fs.existsSync(path.join(live, 'gpu-rent-y.key')), "a live window's is kept");
  assert.ok(fs.existsSync(other));
});

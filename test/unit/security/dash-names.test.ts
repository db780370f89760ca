/**
 * Security finding 6: a file name that starts with `-` must never be taken as an option of the
 * interpreter. `python -cimport os;os.system(…)#.py` used to run the name as a program. Against the
 * simulator: a pod file and a synced local file with such names, run and re-run — the canary never
 * appears, and the script's own output does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { planRun } from '../../../src/kgpu/jobs/job-runner';
import { startFleet, podWrite } from '../reliability/fleet-fixture';

const TAG = `dash-canary-${process.pid}-${randomBytes(3).toString('hex')}`;
/** One Linux file name: python would read it as `-c <code>` and run the code. */
const HOSTILE = `-cimport pathlib;pathlib.Path('${TAG}').touch()#.py`;

test('planRun never hands a script name that starts with "-" to the interpreter as an option', () => {
  const pod = planRun({ target: { kind: 'pod', path: `/workspace/x/${HOSTILE}` }, python: 'python3', args: [], env: {} });
  assert.ok(!pod.command.startsWith(`python3 '-`), pod.command);
  assert.ok(pod.command.startsWith(`python3 './-c`), pod.command);
  const local = planRun({
    target: { kind: 'local', folder: '/home/me/p', file: `/home/me/p/${HOSTILE}` },
    python: 'python3',
    args: ['-v'],
    env: {},
  });
  assert.ok(local.command.startsWith(`python3 './-c`), local.command);
  assert.ok(local.command.endsWith(' -v'), 'arguments after the script stay arguments of the script');
});

test('a "-c…" file name runs as a script (in the pod and synced from here), also on re-run: the canary never runs', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const runner = f.runner();
  const body = 'import sys\nprint("script ran:", sys.argv[0])\n';
  const canary = async (): Promise<string> => pod.sh(`find /workspace /tmp -name '${TAG}*' 2>/dev/null; true`);

  // A file already in the pod (a kgpu:// editor).
  await podWrite(pod, `/workspace/in-pod/${HOSTILE}`, body);
  const chunks: Buffer[] = [];
  const h = runner.runFile({
    podId: pod.podId,
    target: { kind: 'pod', path: `/workspace/in-pod/${HOSTILE}` },
    python: 'python3',
    args: [],
    env: {},
    onData: (b) => void chunks.push(b),
  });
  const r = await h.done;
  assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
  assert.match(Buffer.concat(chunks).toString(), /^script ran: \.\/-cimport pathlib;/);
  assert.equal(await canary(), '', 'the name was not executed as code');

  // A local file, synced to the pod first.
  const local = f.tmp('proj');
  fs.writeFileSync(path.join(local, HOSTILE), body);
  const out: Buffer[] = [];
  const l = runner.runFile({
    podId: pod.podId,
    target: { kind: 'local', folder: local, file: path.join(local, HOSTILE) },
    python: 'python3',
    args: [],
    env: {},
    remoteRoot: '/workspace',
    onData: (b) => void out.push(b),
  });
  assert.deepEqual((await l.done).job.status, { state: 'exited', exitCode: 0 });
  assert.match(Buffer.concat(out).toString(), /^script ran: \.\/-cimport pathlib;/);
  assert.equal(await canary(), '');

  // Re-run (the recipe) and re-run of a job known only from the pod (its recorded command line).
  const again: Buffer[] = [];
  const rr = runner.rerun(pod.podId, l.jobId, { onData: (b) => void again.push(b) });
  assert.deepEqual((await rr.done).job.status, { state: 'exited', exitCode: 0 });
  assert.match(Buffer.concat(again).toString(), /^script ran: \.\/-c/);
  const fresh = f.runner();
  await fresh.refresh(pod.podId);
  const fromPod: Buffer[] = [];
  const rp = fresh.rerun(pod.podId, h.jobId, { onData: (b) => void fromPod.push(b) });
  assert.deepEqual((await rp.done).job.status, { state: 'exited', exitCode: 0 });
  assert.match(Buffer.concat(fromPod).toString(), /^script ran: \.\/-c/);
  assert.equal(await canary(), '', 'no canary after runs and re-runs');
});

/**
 * The fork server's life in a pod: it is replaced when what it imported changed (a pip-style
 * write into a preloaded package, a new package in site-packages) or the environment changed —
 * that run is cold with the reason, the next one warm again and seeing the change; it learns a
 * package a warm run imported; a killed server means a silent cold start and a new server; requests
 * it cannot read get no answer and change nothing; Stop ends a warm job's whole process group. The interpreter here is a virtual environment (with the
 * system's packages) holding a small package that the tests change as pip would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stopJob } from '../../../src/kgpu/jobs/jobs';
import { forkServerStatus, WarmStart } from '../../../src/kgpu/warm';
import { JOBS_ROOT, outcome, startWarmPod, type RunSpec, type WarmPod } from './warm-fixture';

const DIR = '/workspace/lifeproj';
const VENV = '/workspace/venv';
const SITE = `${VENV}/lib/python3.11/site-packages`;
const PY = `${VENV}/bin/python`;
let w: WarmPod;

const spec = (script: string, extra: Partial<RunSpec> = {}): Omit<RunSpec, 'warm'> => ({ cwd: DIR, script, python: PY, ...extra });

before(async () => {
  w = await startWarmPod();
  await w.sh(`python3 -m venv --without-pip --system-site-packages ${VENV} && ${PY} -c 'import sys; assert sys.prefix == "${VENV}"'`);
  w.write(`${SITE}/fakepkg/__init__.py`, 'VERSION = 1\n');
  w.write(`${SITE}/learnme/__init__.py`, 'NAME = "learnme"\n');
  w.write(`${DIR}/usefake.py`, 'import fakepkg\nprint("fakepkg", fakepkg.VERSION)\n');
  w.write(`${DIR}/plain.py`, 'print("plain")\n');
  w.write(
    `${DIR}/group.py`,
    'import subprocess, time\np = subprocess.Popen(["sleep", "300"])\nprint("child", p.pid, flush=True)\ntime.sleep(300)\n',
  );
});

after(async () => {
  await w?.stop();
});

test('a pip-style change to a preloaded package: that run is cold with the reason and sees the change, the next is warm again', async () => {
  assert.equal((await w.ensure(spec('usefake.py'))).state, 'ready');
  const s = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  assert.deepEqual(s?.preloaded, ['fakepkg']);
  const warm1 = await w.run({ ...spec('usefake.py'), warm: true });
  assert.deepEqual([warm1.mode, warm1.log.toString()], [{ warm: true }, 'fakepkg 1\n']);

  // pip rewrites the package's files.
  w.write(`${SITE}/fakepkg/__init__.py`, 'VERSION = 2  # upgraded\n');
  const cold = await w.run({ ...spec('usefake.py'), warm: false });
  const stale = await w.run({ ...spec('usefake.py'), warm: true });
  assert.deepEqual(stale.mode, { warm: false, code: 'stale', reason: `installed packages changed (${SITE}/fakepkg/__init__.py)` });
  assert.deepEqual(outcome(stale), outcome(cold));
  assert.equal(stale.log.toString(), 'fakepkg 2\n');

  // The server replaced itself in the background with the new files in.
  assert.equal((await w.ensure(spec('usefake.py'))).state, 'ready');
  const warm2 = await w.run({ ...spec('usefake.py'), warm: true });
  assert.deepEqual([warm2.mode, warm2.log.toString()], [{ warm: true }, 'fakepkg 2\n']);

  // A new package installed beside it (site-packages itself changed).
  w.write(`${SITE}/otherpkg/__init__.py`, '');
  const added = await w.run({ ...spec('plain.py'), warm: true });
  assert.equal(added.mode?.warm, false);
  assert.match((added.mode as { reason: string }).reason, /^installed packages changed \(.*site-packages\)$/);
  assert.equal((await w.ensure(spec('usefake.py'))).state, 'ready');
});

test('a package a warm run imports that is not preloaded yet: the server learns it (a replacement with it in)', async () => {
  w.write(`${DIR}/uselearn.py`, 'import learnme\nprint(learnme.NAME)\n');
  assert.equal((await w.ensure(spec('usefake.py'))).state, 'ready');
  const before = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  assert.ok(before && !before.preloaded.includes('learnme'), JSON.stringify(before));
  const r = await w.run({ ...spec('uselearn.py'), warm: true });
  assert.deepEqual([r.mode, r.log.toString()], [{ warm: true }, 'learnme\n']);
  assert.equal((await w.ensure(spec('usefake.py'))).state, 'ready');
  const learned = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  assert.deepEqual(learned?.preloaded, ['fakepkg', 'learnme']);
});

test('kgpu.env changed: that run is cold (names, never values, in the reason), then warm with the new environment', async () => {
  assert.equal((await w.ensure(spec('usefake.py'))).state, 'ready');
  const env = { SECRET_TOKEN: 'do-not-print-me', MODE: 'new' };
  const r = await w.run({ ...spec('plain.py', { env }), warm: true });
  assert.deepEqual(r.mode, { warm: false, code: 'env', reason: 'the environment changed (MODE, SECRET_TOKEN)' });
  assert.equal((await w.ensure(spec('usefake.py', { env }))).state, 'ready');
  const again = await w.run({ ...spec('plain.py', { env }), warm: true });
  assert.deepEqual(again.mode, { warm: true });
});

test("a killed fork server: the next run is cold without an error, and the job runner's after-start starts a new one", async () => {
  const env = { SECRET_TOKEN: 'do-not-print-me', MODE: 'new' };
  assert.equal((await w.ensure(spec('usefake.py', { env }))).state, 'ready');
  const s = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  await w.sh(`kill -9 ${s?.pid}`);
  const cold = await w.run({ ...spec('usefake.py', { env }), warm: false });
  const r = await w.run({ ...spec('usefake.py', { env }), warm: true });
  assert.deepEqual(r.mode, { warm: false, code: 'dead', reason: 'the fork server is not running' });
  assert.deepEqual(outcome(r), outcome(cold));
  const started = await new WarmStart(() => ({ mode: 'auto' }), w.script).afterStart(() => w.pod, r.mode, {
    python: PY,
    cwd: DIR,
    script: 'usefake.py',
    args: [],
    env,
  });
  assert.deepEqual(started, { state: 'started' });
  assert.equal((await w.ensure(spec('usefake.py', { env }))).state, 'ready');
  const again = await w.run({ ...spec('usefake.py', { env }), warm: true });
  assert.deepEqual([again.mode, again.log.toString()], [{ warm: true }, 'fakepkg 2\n']);
});

test('requests the fork server cannot read (not marshal, not a dict, cut short) get no answer and start nothing; it goes on serving', async () => {
  const env = { SECRET_TOKEN: 'do-not-print-me', MODE: 'new' };
  assert.equal((await w.ensure(spec('usefake.py', { env }))).state, 'ready');
  const before = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  const jobs = async (): Promise<string> => w.sh(`ls -A ${JOBS_ROOT} 2>/dev/null | sort`);
  const jobsBefore = await jobs();
  w.write(
    '/workspace/probe/bad_frames.py',
    [
      'import glob, marshal, socket',
      'def frame(data, claimed=None):',
      '    return (len(data) if claimed is None else claimed).to_bytes(4, "big") + data',
      'bad = [frame(b"not marshal at all"), frame(marshal.dumps(["a", "list"])), frame(b"{", claimed=100)]',
      'for path in sorted(glob.glob("/tmp/kgpu-0/fs-*.sock")):',
      '    for data in bad:',
      '        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      '        s.settimeout(10)',
      '        s.connect(path)',
      '        s.sendall(data)',
      '        s.shutdown(socket.SHUT_WR)',
      '        print(repr(s.recv(100)))',
      '        s.close()',
    ].join('\n'),
  );
  const replies = (await w.sh('python3 /workspace/probe/bad_frames.py')).trim().split('\n');
  assert.ok(replies.length >= 3, replies.join('\n'));
  assert.deepEqual(new Set(replies), new Set(["b''"]), 'each bad request is closed without a reply');
  const after = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  assert.deepEqual([after?.pid, after?.stale], [before?.pid, null], 'the same server, not stale');
  assert.equal(await jobs(), jobsBefore, 'no job folder was made');
  const r = await w.run({ ...spec('usefake.py', { env }), warm: true });
  assert.deepEqual(r.mode, { warm: true });
});

test("Stop ends a warm job's whole process group (the script and its child), recorded as stopped", async () => {
  const env = { SECRET_TOKEN: 'do-not-print-me', MODE: 'new' };
  assert.equal((await w.ensure(spec('usefake.py', { env }))).state, 'ready');
  let childPid: string | undefined;
  let stopping: Promise<unknown> | undefined;
  let log = '';
  const run = w.run({
    ...spec('group.py', { env }),
    warm: true,
    onData: (c, job) => {
      log += c.toString();
      const m = /child (\d+)\n/.exec(log);
      if (m && !stopping) {
        childPid = m[1];
        stopping = stopJob(w.pod, job.id, { jobsRoot: JOBS_ROOT, graceMs: 5000 });
      }
    },
  });
  const r = await run;
  await stopping;
  assert.deepEqual(r.mode, { warm: true });
  assert.deepEqual(r.info.status, { state: 'killed', signal: 'SIGTERM', stoppedByUser: true, possiblyOom: false });
  assert.ok(childPid);
  assert.equal((await w.pod.exec(`kill -0 ${childPid}`)).exitCode, 1, "the script's child is gone too");
  assert.equal(r.log.toString(), `child ${childPid}\n`);
});

test("the fork server's files: a private 0700 folder, a 0600 socket; secrets of the environment are in no file of it", async () => {
  const out = await w.sh(
    'F=/tmp/kgpu-$(id -u); stat -c "%a %U %n" "$F" "$F"/fs-*.sock; grep -rl do-not-print-me "$F" /workspace/.kgpu 2>/dev/null | grep -v "/log$" || true',
  );
  const lines = out.trim().split('\n');
  assert.match(lines[0], /^700 root \/tmp\/kgpu-0$/);
  for (const l of lines.slice(1)) assert.match(l, /^600 root \/tmp\/kgpu-0\/fs-[0-9a-f]{16}\.sock$/, out);
});

test('warm start off, or kgpu.python not a plain interpreter: a cold start, said so, with nothing started in the pod', async () => {
  assert.equal(
    new WarmStart(() => ({ mode: 'off' }), w.script).launchFor({ python: PY, cwd: DIR, script: 'plain.py', args: [], env: {} }),
    undefined,
  );
  const r = await w.run({ ...spec('plain.py', { python: 'uv run python' }), warm: true });
  assert.deepEqual(r.mode, { warm: false, code: 'unsupported', reason: 'kgpu.python "uv run python" is not a plain interpreter' });
});

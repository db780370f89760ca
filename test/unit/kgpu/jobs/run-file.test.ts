/**
 * Run Active File on GPU, editor-free (src/kgpu/jobs/job-runner.ts) against the full simulator: a local
 * folder is synced and its train.py run as a job; the log (with `\r` progress and ANSI colours)
 * arrives in order and complete; the footer's exit code and cost; a one-line edit re-uploads only
 * that file; the first log byte of a warm re-run is measured.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { JobRunner, planRun, type RunHandle } from '../../../../src/kgpu/jobs/job-runner';
import { footerSummary, jobDurationMs, logFooter, runCost, TerminalText } from '../../../../src/kgpu/jobs/job-log-text';
import { MapStore, startRunFixture, waitFor, type RunFixture } from './run-fixture';

let fx: RunFixture;
let runner: JobRunner;
let project: string;

const TRAIN_PY = `import sys
print("\\x1b[1;32mtraining\\x1b[0m", flush=True)
for i in range(0, 101, 10):
    sys.stdout.write("\\r[%-10s] %3d%%" % ("#" * (i // 10), i))
    sys.stdout.flush()
sys.stdout.write("\\n")
print("\\x1b[31mwarning\\x1b[0m on stderr", file=sys.stderr, flush=True)
print("loss 0.125")
sys.exit(3)
`;

function expectedLog(): string {
  let s = '\x1b[1;32mtraining\x1b[0m\n';
  for (let i = 0; i <= 100; i += 10) s += `\r[${'#'.repeat(i / 10).padEnd(10)}] ${String(i).padStart(3)}%`;
  return s + '\n\x1b[31mwarning\x1b[0m on stderr\nloss 0.125\n';
}

before(async () => {
  fx = await startRunFixture();
  runner = new JobRunner({ commands: async () => fx.commands(), store: new MapStore(), syncStateDir: fx.tmp('sync-state'), pollMs: 0 });
  project = fx.tmp('my-project');
  fs.writeFileSync(path.join(project, 'train.py'), TRAIN_PY);
  for (let i = 0; i < 19; i++) fs.writeFileSync(path.join(project, `mod${i}.py`), `X = ${i}\n`);
  fs.mkdirSync(path.join(project, 'data'));
  fs.writeFileSync(path.join(project, 'data', 'big.bin'), Buffer.alloc(64 * 1024, 7));
  fs.writeFileSync(path.join(project, '.gitignore'), 'data/\n');
});
after(async () => {
  runner?.dispose();
  await fx?.stop();
});

function collect(): { chunks: Buffer[]; offsets: number[]; onData(b: Buffer, o: number): void } {
  const chunks: Buffer[] = [];
  const offsets: number[] = [];
  return { chunks, offsets, onData: (b, o) => void (chunks.push(b), offsets.push(o)) };
}

function run(sink: { onData(b: Buffer, o: number): void }, args: string[] = []): RunHandle {
  return runner.runFile({
    podId: fx.podId,
    target: { kind: 'local', folder: project, file: path.join(project, 'train.py') },
    python: 'python3',
    args,
    env: { KGPU_TEST_VAR: 'yes' },
    exclude: ['*.pyc'],
    onData: sink.onData,
  });
}

test('planRun: local files run from the synced folder, pod files in place, arguments quoted', () => {
  const p = planRun({
    target: { kind: 'local', folder: '/home/me/proj', file: '/home/me/proj/src/train me.py' },
    python: 'python',
    args: ['--lr', '0.1', "it's"],
    env: {},
  });
  assert.equal(p.remoteDir, '/workspace/proj');
  assert.equal(p.cwd, '/workspace/proj');
  assert.equal(p.command, `python 'src/train me.py' --lr 0.1 'it'\\''s'`);
  assert.equal(p.name, "train me.py --lr 0.1 it's");
  const q = planRun({ target: { kind: 'pod', path: '/workspace/exp/run.py' }, python: 'uv run python', args: [], env: {} });
  assert.deepEqual([q.cwd, q.command, q.remoteDir], ['/workspace/exp', 'uv run python run.py', undefined]);
  assert.throws(
    () => planRun({ target: { kind: 'local', folder: '/a', file: '/b/x.py' }, python: 'python', args: [], env: {} }),
    /not inside/,
  );
});

test('a local folder is synced (respecting .gitignore and excludes) and train.py runs: log complete and in order, footer exit code and cost', async () => {
  const sink = collect();
  const h = run(sink);
  const sync = await h.synced;
  assert.ok(sync);
  assert.equal(sync.uploadedFiles, 21, 'train.py, 19 modules and .gitignore; data/ is ignored');
  const started = await h.started;
  assert.equal(started.cwd, '/workspace/my-project');
  const result = await h.done;
  const log = Buffer.concat(sink.chunks);
  assert.equal(log.toString('utf8'), expectedLog());
  assert.deepEqual(
    sink.offsets,
    [...sink.offsets].sort((a, b) => a - b),
    'offsets only grow',
  );
  assert.equal(result.offset, log.length);
  assert.deepEqual(result.job.status, { state: 'exited', exitCode: 3 });
  assert.equal(await fx.sh(`cat /workspace/.kgpu/jobs/${h.jobId}/log | wc -c`), `${log.length}\n`);
  assert.equal(await fx.sh('test -e /workspace/my-project/data/big.bin && echo yes || echo no'), 'no\n');
  const first = await h.firstByte;
  assert.ok(first !== undefined && first > 0);

  // The panel text: lone \n → \r\n, \r kept, colours kept.
  const tt = new TerminalText();
  const text = sink.chunks.map((c) => tt.push(c)).join('') + tt.end();
  assert.equal(text, expectedLog().replace(/\n/g, '\r\n'));

  // Footer: exit code, duration, credits = rate × duration.
  const pod = await fx.pod();
  const duration = jobDurationMs(result.job);
  assert.ok(duration !== undefined);
  const cost = runCost(pod, duration);
  assert.ok(cost);
  assert.equal(cost.ratePerHour, 1000);
  assert.ok(Math.abs(cost.credits - (1000 * duration) / 3_600_000) < 1e-9);
  assert.ok(Math.abs(cost.dollars - cost.credits / 1500) < 1e-12);
  const summary = footerSummary({ status: result.job.status, durationMs: duration, cost });
  assert.match(summary, /^exit code 3 · \d+\.\d s · \d+\.\d\d credits \(\$0\.\d{4}\)$/);
  assert.match(logFooter({ status: result.job.status, durationMs: duration, cost }), /■ exit code 3/);

  // The environment reached the job; the runner knows the job and how it ended.
  const tracked = runner.get(fx.podId, h.jobId);
  assert.ok(tracked?.recipe);
  assert.deepEqual(tracked.info.status, { state: 'exited', exitCode: 3 });
});

test('a second run after a one-line edit uploads only that file; first log byte of a warm run measured', async () => {
  const trainPath = path.join(project, 'mod7.py');
  fs.writeFileSync(trainPath, 'X = 700\n');
  const sink = collect();
  const h = run(sink);
  const sync = await h.synced;
  assert.ok(sync);
  assert.equal(sync.uploadedFiles, 1);
  assert.equal(sync.uploadedBytes, Buffer.byteLength('X = 700\n'));
  await h.done;
  assert.equal(Buffer.concat(sink.chunks).toString(), expectedLog());
  assert.equal(await fx.sh('cat /workspace/my-project/mod7.py'), 'X = 700\n');

  // Warm iterations: one-line edit of train.py, run, time to the first log byte.
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    fs.writeFileSync(path.join(project, 'train.py'), TRAIN_PY.replace('loss 0.125', `loss 0.${i}`));
    const s = collect();
    const r = run(s);
    const ms = await r.firstByte;
    assert.ok(ms !== undefined);
    times.push(ms);
    assert.equal((await r.synced)?.uploadedFiles, 1);
    await r.done;
    assert.match(Buffer.concat(s.chunks).toString(), new RegExp(`loss 0\\.${i}\\n$`));
  }
  times.sort((a, b) => a - b);
  // Reported, not asserted: the goal (< 1 s, and a ratio to OpenSSH) is npm run bench's iteration row.
  console.log(
    `# run → first log byte (warm pod, one-line edit, sync + start + follow): median ${times[2].toFixed(0)} ms, min ${times[0].toFixed(0)}, max ${times[4].toFixed(0)}`,
  );
});

test('arguments and kgpu.env reach the script', async () => {
  fs.writeFileSync(path.join(project, 'args.py'), 'import os, sys\nprint(sys.argv[1:], os.environ["KGPU_TEST_VAR"], os.getcwd())\n');
  const sink = collect();
  const h = runner.runFile({
    podId: fx.podId,
    target: { kind: 'local', folder: project, file: path.join(project, 'args.py') },
    python: 'python3',
    args: ['--name', 'a b', '$(touch /tmp/pwned)'],
    env: { KGPU_TEST_VAR: 'from-env' },
    onData: sink.onData,
  });
  const r = await h.done;
  assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
  assert.equal(Buffer.concat(sink.chunks).toString(), "['--name', 'a b', '$(touch /tmp/pwned)'] from-env /workspace/my-project\n");
  assert.equal(await fx.sh('test -e /tmp/pwned && echo yes || echo no'), 'no\n');
});

test('a file already in the pod runs in place; a failed start rejects done with the reason', async () => {
  await fx.sh('mkdir -p /workspace/remote && printf \'print("in place")\\n\' > /workspace/remote/hello.py');
  const sink = collect();
  const h = runner.runFile({
    podId: fx.podId,
    target: { kind: 'pod', path: '/workspace/remote/hello.py' },
    python: 'python3',
    args: [],
    env: {},
    onData: sink.onData,
  });
  assert.equal(await h.synced, undefined);
  const r = await h.done;
  assert.equal(Buffer.concat(sink.chunks).toString(), 'in place\n');
  assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });

  const bad = runner.runFile({
    podId: fx.podId,
    target: { kind: 'pod', path: '/workspace/nowhere/x.py' },
    python: 'python3',
    args: [],
    env: {},
    onData: () => undefined,
  });
  await assert.rejects(bad.done, /does not exist/);
  assert.equal(await bad.firstByte, undefined);
});

test('a file outside any workspace folder is sent alone, never its whole directory (names with gitignore syntax too)', async () => {
  const home = fx.tmp('home-dir');
  const name = 'we[ird] #1 !x*.py';
  fs.writeFileSync(path.join(home, name), 'print("alone")\n');
  fs.writeFileSync(path.join(home, 'secrets.txt'), 'do not send\n');
  fs.mkdirSync(path.join(home, 'big'));
  fs.writeFileSync(path.join(home, 'big', 'data.bin'), Buffer.alloc(1024));
  const sink = collect();
  const h = runner.runFile({
    podId: fx.podId,
    target: { kind: 'local', folder: home, file: path.join(home, name), onlyThisFile: true },
    python: 'python3',
    args: [],
    env: {},
    onData: sink.onData,
  });
  const sync = await h.synced;
  assert.equal(sync?.uploadedFiles, 1);
  await h.done;
  assert.equal(Buffer.concat(sink.chunks).toString(), 'alone\n');
  assert.equal(await fx.sh('ls -A /workspace/home-dir | grep -v "^.kgpu$"'), `${name}\n`);
  assert.throws(
    () =>
      runner.runFile({
        podId: fx.podId,
        target: { kind: 'local', folder: path.dirname(home), file: path.join(home, name), onlyThisFile: true },
        python: 'python3',
        args: [],
        env: {},
      }),
    /not directly in/,
  );
});

test('a connection dropped mid-run: the panel still gets every byte once, in order (the follow resumes at its offset)', async () => {
  fs.writeFileSync(
    path.join(project, 'chatty.py'),
    'import os, time\nfor i in range(300):\n    print("line %04d " % i + "x" * 60, flush=True)\nwhile not os.path.exists("go"):\n    time.sleep(0.01)\nfor i in range(300, 600):\n    print("line %04d " % i + "x" * 60, flush=True)\n',
  );
  const sink = collect();
  const reconnects: number[] = [];
  const h = runner.runFile({
    podId: fx.podId,
    target: { kind: 'local', folder: project, file: path.join(project, 'chatty.py') },
    python: 'python3',
    args: [],
    env: {},
    onData: sink.onData,
    onReconnect: (r) => reconnects.push(r.offset),
  });
  await h.started;
  const text = (): string => Buffer.concat(sink.chunks).toString();
  await waitFor('the first 300 lines', () => text().includes('line 0299'));
  fx.sim.bastion.dropConnections({ podId: fx.podId });
  await fx.sh('touch /workspace/my-project/go');
  const r = await h.done;
  assert.ok(reconnects.length >= 1, 'the follow reconnected');
  let expected = '';
  for (let i = 0; i < 600; i++) expected += `line ${String(i).padStart(4, '0')} ${'x'.repeat(60)}\n`;
  assert.equal(text(), expected);
  assert.equal(r.offset, Buffer.byteLength(expected));
  fs.rmSync(path.join(project, 'chatty.py'));
});

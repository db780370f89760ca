/**
 * The job manager across its life (src/kgpu/jobs/job-runner.ts) against the full simulator: a reload
 * (a new JobRunner on the same workspaceState) finds the running job and resumes its log with no
 * byte lost or repeated; Stop kills the whole process group (a child too); a job killed like the
 * OOM killer kills, and a pod evicted for OOM, are reported as out of memory — also when the job
 * itself goes over the pod's real memory limit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { JobRunner } from '../../../../src/kgpu/jobs/job-runner';
import { looksOutOfMemory, shortJobState, jobContextValue } from '../../../../src/kgpu/jobs/job-log-text';
import type { JobEndEvent, RunFileSpec, RunHandle } from '../../../../src/kgpu/jobs/job-runner';
import { MapStore, startRunFixture, waitFor, type RunFixture } from './run-fixture';

let fx: RunFixture;
before(async () => {
  fx = await startRunFixture();
  await fx.sh('mkdir -p /workspace/scripts');
});
after(async () => {
  await fx?.stop();
});

function newRunner(store: MapStore, pollMs = 0): JobRunner {
  return new JobRunner({ commands: async () => fx.commands(), store, pollMs });
}

/** Runs the pod's script `path` with python3 and `args`, no kgpu.env, its log to `onData`. */
function runScript(runner: JobRunner, podId: string, path: string, onData: RunFileSpec['onData'], args: string[] = []): RunHandle {
  return runner.runFile({ podId, target: { kind: 'pod', path }, python: 'python3', args, env: {}, onData });
}

async function podFile(name: string, content: string): Promise<string> {
  const p = `/workspace/scripts/${name}`;
  await fx.commands().exec(['sh', '-c', 'cat > "$1"', 'sh', p], { stdin: content });
  return p;
}

test('a reload finds the running job and resumes its log where the panel stopped: nothing lost, nothing repeated', async () => {
  // Prints part 1, waits for a go file, prints part 2 (the job waits; the test waits on conditions).
  const script = await podFile(
    'two-parts.py',
    `import os, sys, time
for i in range(50):
    print("part1 line %d" % i, flush=True)
while not os.path.exists("/workspace/scripts/go"):
    time.sleep(0.01)
for i in range(200):
    sys.stdout.write("\\rpart2 %d" % i)
sys.stdout.write("\\nend\\n")
`,
  );
  const store = new MapStore();
  const first = newRunner(store);
  const got: Buffer[] = [];
  const h = runScript(first, fx.podId, script, (b) => void got.push(b));
  await h.started;
  await waitFor('part 1 in the panel', () => Buffer.concat(got).toString().includes('part1 line 49\n'));
  const beforeReload = Buffer.concat(got);
  first.dispose(); // the window reloads

  const second = newRunner(store);
  const jobs = await second.refresh(fx.podId);
  const job = jobs.find((j) => j.info.id === h.jobId);
  assert.ok(job, 'the running job is found again from the pod');
  assert.equal(job.info.status.state, 'running');
  assert.ok(job.recipe, 'and how to re-run it');
  const resumable = second.resumable(fx.podId);
  assert.deepEqual(
    resumable.map((r) => [r.job.info.id, r.offset]),
    [[h.jobId, beforeReload.length]],
  );

  const after: Buffer[] = [];
  const stream = second.openLog(fx.podId, h.jobId, { from: 'stored', onData: (b) => void after.push(b) });
  await fx.sh('touch /workspace/scripts/go');
  const r = await stream.done;
  const whole = Buffer.concat([beforeReload, ...after]);
  const podLog = Buffer.from(await fx.sh(`cat /workspace/.kgpu/jobs/${h.jobId}/log`), 'utf8');
  assert.equal(whole.toString(), podLog.toString());
  assert.equal(r.offset, podLog.length);
  assert.deepEqual(second.get(fx.podId, h.jobId)?.info.status, { state: 'exited', exitCode: 0 });
  assert.deepEqual(second.resumable(fx.podId), [], 'a drained log is not resumed again');
  second.dispose();
});

test('"only new output" starts at the end of the log; Re-run without a recipe (another window\'s job) runs the same command line in the same folder', async () => {
  const script = await podFile(
    'gated.py',
    `import os, time
print("old output", flush=True)
while not os.path.exists("/workspace/scripts/gate"):
    time.sleep(0.01)
print("new output", flush=True)
`,
  );
  const runner = newRunner(new MapStore());
  const got: Buffer[] = [];
  const h = runScript(runner, fx.podId, script, (b) => void got.push(b), ['--flag']);
  await waitFor('the old output', () => Buffer.concat(got).toString() === 'old output\n');
  const onlyNew: Buffer[] = [];
  const tail = runner.openLog(fx.podId, h.jobId, { from: 'end', onData: (b) => void onlyNew.push(b) });
  // The deferred stream opens once it knows the log's size; then let the job go on.
  await waitFor(
    'the tail to start',
    () => runner.isStreaming(fx.podId, h.jobId) && runner.jobs(fx.podId).length > 0 && tail.offset === 'old output\n'.length,
  );
  await fx.sh('touch /workspace/scripts/gate');
  await tail.done;
  assert.equal(Buffer.concat(onlyNew).toString(), 'new output\n');
  await h.done;

  // A fresh runner with an empty store knows the job only from the pod: Re-run uses its command line.
  const other = newRunner(new MapStore());
  await other.refresh(fx.podId);
  assert.equal(other.get(fx.podId, h.jobId)?.recipe, undefined);
  const again: Buffer[] = [];
  const r = other.rerun(fx.podId, h.jobId, { onData: (b) => void again.push(b) });
  assert.equal(r.plan.command, 'python3 gated.py --flag');
  assert.equal(r.plan.cwd, '/workspace/scripts');
  const res = await r.done;
  assert.deepEqual(res.job.status, { state: 'exited', exitCode: 0 });
  assert.equal(Buffer.concat(again).toString(), 'old output\nnew output\n');
  other.dispose();
  runner.dispose();
});

test('Stop kills the whole process group, a child process too, and reports it as stopped', async () => {
  const script = await podFile(
    'with-child.py',
    `import subprocess, time
child = subprocess.Popen(["sleep", "300"])
open("/workspace/scripts/child.pid", "w").write(str(child.pid))
print("child started", flush=True)
time.sleep(300)
`,
  );
  const runner = newRunner(new MapStore());
  const got: Buffer[] = [];
  const h = runScript(runner, fx.podId, script, (b) => void got.push(b));
  await waitFor('the child to start', () => Buffer.concat(got).toString().includes('child started'));
  const childPid = (await fx.sh('cat /workspace/scripts/child.pid')).trim();
  assert.equal(await fx.sh(`kill -0 ${childPid} && echo alive`), 'alive\n');
  const ends: JobEndEvent[] = [];
  runner.onDidEnd((e) => ends.push(e));
  const info = await runner.stop(fx.podId, h.jobId, { graceMs: 2000 });
  assert.equal(info.status.state, 'killed');
  assert.ok(info.status.state === 'killed' && info.status.stoppedByUser && info.status.signal === 'SIGTERM');
  assert.equal(shortJobState(info.status), 'stopped');
  assert.equal(jobContextValue(info.status), 'job.killed');
  // The child (same process group) is gone too; zombies count as gone.
  const state = await fx.sh(`s=$(sed -n 's/^.*) \\(.\\) .*/\\1/p' /proc/${childPid}/stat 2>/dev/null); echo "\${s:-gone}"`);
  assert.match(state.trim(), /^(gone|Z)$/);
  const r = await h.done;
  assert.equal(r.job.status.state, 'killed');
  assert.equal(ends.length, 1);
  assert.equal(ends[0].job.info.id, h.jobId);
  runner.dispose();
});

test('a job SIGKILLed by someone else is reported as possibly out of memory; a pod evicted for OOM ends its running jobs as out of memory', async () => {
  const runner = newRunner(new MapStore(), 50);
  const ends: JobEndEvent[] = [];
  runner.onDidEnd((e) => ends.push(e));
  const killer = await podFile('oom.py', 'import os, signal\nprint("allocating", flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n');
  const h = runScript(runner, fx.podId, killer, () => undefined);
  const r = await h.done;
  assert.deepEqual(r.job.status, { state: 'killed', signal: 'SIGKILL', stoppedByUser: false, possiblyOom: true });
  assert.ok(looksOutOfMemory(r.job.status));
  assert.equal(shortJobState(r.job.status), 'killed (SIGKILL, possibly out of memory)');
  await waitFor('the end event', () => ends.some((e) => e.job.info.id === h.jobId));

  // A long job, its panel closed (no stream): the pod is evicted with OOMKilled.
  const sleeper = await podFile('sleeper.py', 'import time\nprint("working", flush=True)\ntime.sleep(300)\n');
  const s = runScript(runner, fx.podId, sleeper, () => undefined);
  await s.started;
  s.stream.close();
  await s.done.catch(() => undefined);
  assert.equal(runner.get(fx.podId, s.jobId)?.info.status.state, 'running');
  await fx.sim.endPod(fx.podId, 'evicted_by_kubelet:OOMKilled');
  const pod = await fx.pod();
  assert.equal(pod.end_reason, 'evicted_by_kubelet:OOMKilled');
  const ended = runner.podEnded(fx.podId, pod.end_reason);
  assert.deepEqual(
    ended.map((j) => j.info.id),
    [s.jobId],
  );
  const job = runner.get(fx.podId, s.jobId);
  assert.deepEqual(job?.info.status, { state: 'oom', evidence: 'pod-evicted' });
  assert.equal(job?.podEndReason, 'evicted_by_kubelet:OOMKilled');
  assert.equal(jobContextValue(job.info.status), 'job.oom');
  assert.ok(ends.some((e) => e.job.info.id === s.jobId && e.job.info.status.state === 'oom'));
  assert.deepEqual(runner.podEnded(fx.podId, pod.end_reason), [], 'an ended pod ends its jobs once');
  runner.dispose();
});

test("a job that goes over the rental's memory (the pod's real 128Mi limit) is OOM-killed by the kernel: the pod ends OOMKilled and the job out of memory", async () => {
  const own = await startRunFixture({}, { memory: '128Mi' });
  try {
    const runner = new JobRunner({ commands: async () => own.commands(), store: new MapStore(), pollMs: 0 });
    await own.sh(
      `printf '%s\\n' 'print("allocating", flush=True)' 'b = bytearray(400 << 20)' 'b[-1] = 1' 'print("survived", flush=True)' > /workspace/hog.py`,
    );
    const log: Buffer[] = [];
    const h = runScript(runner, own.podId, '/workspace/hog.py', (b) => void log.push(b));
    h.done.catch(() => undefined);
    await h.started;
    // A bound against a hang, not a speed goal: the kernel kills the hog as soon as it has touched
    // 128Mi, and the simulator's kubelet ends the pod within its 100 ms look at the cgroup's OOM
    // count; but touching 128Mi costs this VM ~1.4 s of CPU (measured: 0.66 s user + 0.77 s system
    // for the hog in a 128M cgroup), i.e. 10-20 s of wall time at a load average of 20 on 2 cores.
    const pod = await waitFor(
      'kgpu to end the pod',
      async () => {
        const p = await own.pod();
        return p.end_reason ? p : undefined;
      },
      120_000,
    );
    assert.equal(pod.end_reason, 'evicted_by_kubelet:OOMKilled');
    // What the editor's spine does when the rentals model sees the end (src/jobs/jobs-view.ts).
    runner.podEnded(own.podId, pod.end_reason ?? '');
    const job = await waitFor('the job to end', () => {
      const j = runner.get(own.podId, h.jobId);
      return j && j.info.status.state !== 'running' ? j : undefined;
    });
    // Out of memory, whichever saw it first: the job's wrapper (the pod's cgroup counted an OOM
    // kill) or the pod's end.
    assert.equal(job.info.status.state, 'oom', JSON.stringify(job.info.status));
    assert.ok(looksOutOfMemory(job.info.status));
    assert.doesNotMatch(Buffer.concat(log).toString(), /survived/);
    runner.dispose();
  } finally {
    await own.stop();
  }
});

test('a disk eviction ends the running job with the reason (lost, with the pod end reason for the fix)', async () => {
  const own = await startRunFixture();
  try {
    const runner = new JobRunner({ commands: async () => own.commands(), store: new MapStore(), pollMs: 0 });
    await own.sh("printf 'import time\\nprint(1, flush=True)\\ntime.sleep(300)\\n' > /workspace/fill.py");
    const h = runScript(runner, own.podId, '/workspace/fill.py', () => undefined);
    await h.started;
    await own.sim.endPod(own.podId, 'evicted_by_kubelet:OutOfephemeral-storage');
    // The follower loses its connection when the pod goes; the model's end notice ends the job.
    const [job] = runner.podEnded(own.podId, 'evicted_by_kubelet:OutOfephemeral-storage');
    assert.equal(job.info.id, h.jobId);
    assert.deepEqual(job.info.status, { state: 'lost', reason: 'the pod ended (evicted_by_kubelet:OutOfephemeral-storage)' });
    assert.equal(job.podEndReason, 'evicted_by_kubelet:OutOfephemeral-storage');
    await assert.rejects(h.done);
    runner.dispose();
  } finally {
    await own.stop();
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeJobStatus,
  JobError,
  JobNotFoundError,
  jobStatus,
  listJobs,
  newJobId,
  startJob,
  statusAfterPodEnded,
  stopJob,
} from '../../../../src/kgpu/jobs/jobs';
import { followLog } from '../../../../src/kgpu/jobs/log-follow';
import { podCommands } from '../../../../src/kgpu/ssh/pod-commands';
import { startJobsPod, waitFor, type JobsPod } from './jobs-fixture';

let pod: JobsPod;
before(async () => {
  pod = await startJobsPod();
});
after(async () => {
  await pod?.stop();
});

/** Is this pid a live (non-zombie) process in the pod? */
async function aliveInPod(pid: number): Promise<boolean> {
  const out = await pod.sh(
    `if kill -0 ${pid} 2>/dev/null && ! grep -q '^State:.*Z' /proc/${pid}/status 2>/dev/null; then echo yes; else echo no; fi`,
  );
  return out.trim() === 'yes';
}

test('job ids sort by start time', () => {
  const a = newJobId(new Date('2026-01-02T03:04:05.006Z'));
  const b = newJobId(new Date('2026-01-02T03:04:05.007Z'));
  const c = newJobId(new Date('2026-11-02T00:00:00.000Z'));
  assert.match(a, /^20260102-030405-006-[0-9a-f]{6}$/);
  assert.deepEqual([c, b, a].sort(), [a, b, c]);
});

test('a job survives the connection that started it and is found by listJobs from a fresh connection', async () => {
  const starter = pod.fixture.connector();
  // startJob returns while the job still runs (found 'running' below): it does not wait for it.
  // (How fast it returns is npm run bench's business, not a unit test's.)
  const job = await startJob(podCommands(starter), { command: 'echo started; exec sleep 300', name: 'survivor' });
  starter.dispose(); // the connection (and the connector) are gone
  assert.equal(starter.openConnections, 0);

  const found = await waitFor('the job to record its pid', async () => {
    const jobs = await listJobs(pod.commands());
    const j = jobs.find((x) => x.id === job.id);
    return j?.pid !== undefined ? j : undefined;
  });
  assert.equal(found.name, 'survivor');
  assert.equal(found.command, 'echo started; exec sleep 300');
  assert.equal(found.cwd, '/workspace');
  assert.deepEqual(found.status, { state: 'running' });
  assert.ok(found.startedAt && found.startedAt > 0);
  assert.ok(await aliveInPod(found.pid as number), 'the job process runs in the pod');
  // its files are where the contract layout says
  const files = (await pod.sh(`ls /workspace/.kgpu/jobs/${job.id}`)).split('\n').filter(Boolean).sort();
  for (const f of ['cmd', 'cwd', 'log', 'meta.json', 'pgid', 'pid', 'started_at', 'wpid'])
    assert.ok(files.includes(f), `${f} recorded (have ${files.join(',')})`);
  assert.equal(await pod.sh(`cat /workspace/.kgpu/jobs/${job.id}/pgid`), `${found.pid}\n`, 'the job leads its own process group');

  const stopped = await stopJob(pod.commands(), job.id, { graceMs: 2000 });
  assert.equal(stopped.status.state, 'killed');
  assert.equal(describeJobStatus(stopped.status), 'stopped (SIGTERM)');
  assert.equal(await aliveInPod(found.pid as number), false);
});

test('stop kills the whole process group: a child that ignores SIGTERM gets SIGKILL after the grace period', async () => {
  const c = pod.commands();
  const job = await startJob(c, {
    command: `sh -c 'trap "" TERM; echo $$ > child.pid; while :; do sleep 0.1; done' & wait`,
    cwd: '/workspace',
  });
  const childPid = Number(
    await waitFor('the child pid', async () => {
      const r = await c.exec('cat /workspace/child.pid 2>/dev/null');
      return /^\d+\n$/.test(r.stdout.toString()) ? r.stdout.toString().trim() : undefined;
    }),
  );
  const info = await jobStatus(c, job.id);
  assert.ok(info.pid && (await aliveInPod(info.pid)) && (await aliveInPod(childPid)));
  const stopped = await stopJob(c, job.id, { graceMs: 300 });
  assert.equal(stopped.status.state, 'killed');
  if (stopped.status.state === 'killed') assert.equal(stopped.status.stoppedByUser, true);
  assert.equal(await aliveInPod(childPid), false, 'the TERM-ignoring child was killed too');
  assert.equal(await aliveInPod(info.pid as number), false);
  // stopping an ended job is a no-op that reports the same end
  assert.deepEqual((await stopJob(c, job.id)).status, stopped.status);
});

test('a SIGKILL we did not send is reported as possibly out of memory; a pod evicted for OOM as out of memory', async () => {
  const c = pod.commands();
  const job = await startJob(c, { command: 'echo allocating; kill -KILL $$' });
  const r = await followLog(c, job.id, { onData: () => undefined });
  assert.deepEqual(r.job.status, { state: 'killed', signal: 'SIGKILL', stoppedByUser: false, possiblyOom: true });
  assert.equal(describeJobStatus(r.job.status), 'killed by SIGKILL (possibly out of memory)');

  assert.deepEqual(statusAfterPodEnded({ state: 'running' }, 'evicted_by_kubelet:OOMKilled'), { state: 'oom', evidence: 'pod-evicted' });
  assert.equal(describeJobStatus({ state: 'oom', evidence: 'pod-evicted' }), 'out of memory (the pod was evicted: OOMKilled)');
  assert.deepEqual(statusAfterPodEnded({ state: 'running' }, 'returned'), { state: 'lost', reason: 'the pod ended (returned)' });
  assert.deepEqual(statusAfterPodEnded({ state: 'exited', exitCode: 0 }, 'evicted_by_kubelet:OOMKilled'), { state: 'exited', exitCode: 0 });
});

test('argv, env and cwd reach the job; hostile arguments are not run as shell', async () => {
  const c = pod.commands();
  await pod.sh(`mkdir -p '/workspace/my dir'`);
  const hostile = ['$(touch /workspace/pwned)', '`touch /workspace/pwned`', "it's", 'new\nline', '-rf'];
  const job = await startJob(c, {
    argv: ['sh', '-c', 'pwd; printf "[%s]\\n" "$@"; echo "$GREETING"; printf "<%s>" "$MULTI"', 'arg0', ...hostile],
    cwd: '/workspace/my dir',
    // The start reads these lines itself (job-wrapper.ts): leading blanks, backslashes, newlines kept.
    env: { GREETING: 'hello $(whoami) `id`', MULTI: "  two\n\tlines \\ it's\n" },
  });
  const chunks: Buffer[] = [];
  const r = await followLog(c, job.id, { onData: (b) => void chunks.push(b) });
  assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
  assert.equal(
    Buffer.concat(chunks).toString(),
    `/workspace/my dir\n${hostile.map((h) => `[${h}]\n`).join('')}hello $(whoami) \`id\`\n<  two\n\tlines \\ it's\n>`,
  );
  assert.equal((await c.exec('test -e /workspace/pwned')).exitCode, 1, 'no command substitution happened');
});

test('clear errors: unknown job, missing working directory, empty command', async () => {
  const c = pod.commands();
  await assert.rejects(jobStatus(c, '20200101-000000-000-abcdef'), JobNotFoundError);
  await assert.rejects(stopJob(c, '20200101-000000-000-abcdef'), JobNotFoundError);
  await assert.rejects(
    startJob(c, { command: 'true', cwd: '/workspace/nope' }),
    (e: Error) => e instanceof JobError && /does not exist in the pod.*Sync the folder first/.test(e.message),
  );
  await assert.rejects(startJob(c, { command: '  ' }), JobError);
  // a job id launches once (what makes re-sending a start after a lost reply safe)
  const id = newJobId();
  await startJob(c, { command: 'echo once >> /workspace/once.txt', id });
  await assert.rejects(
    startJob(c, { command: 'echo once >> /workspace/once.txt', id }),
    (e: Error) => e instanceof JobError && /already exists/.test(e.message),
  );
  await followLog(c, id, { onData: () => undefined });
  assert.equal(await pod.sh('cat /workspace/once.txt'), 'once\n');
  await assert.rejects(jobStatus(c, '../etc'), JobError);
});

/**
 * The pod ends under the user — released from another client, out of credits, idle for 24 h,
 * evicted for memory or disk — while a file has unsaved edits and a job is running. The memory
 * eviction runs twice: through the fault knob, and through the pod's real memory limit (a process
 * in a `memory: 128Mi` pod allocating 400 MiB: the kernel OOM-kills it, the pod ends OOMKilled). Wired the way
 * the editor's spine wires the library (RentalsModel.onDidEndPod → JobRunner.podEnded and
 * WorkspaceFs.markEnded): the save fails with "pod ended: <reason>" and the caller keeps its
 * bytes, the job ends with the reason (lost, or out of memory), and every source reports the end
 * ONCE — no error storm however often the views refresh or the user retries the save.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { describeEndReason } from '../../../src/kgpu/model/end-reason';
import type { JobEndEvent } from '../../../src/kgpu/jobs/job-runner';
import { podNotice } from '../../../src/kgpu/model/pod-notices';
import { RentalsModel, type PodStateChange, type RefreshFailure } from '../../../src/kgpu/model/rentals-model';
import { WorkspaceFsError } from '../../../src/kgpu/fs/workspace-fs';
import type { EndReason } from '../../sim/contracts';
import { podWrite, sha, startFleet, waitFor, type Fleet } from './fleet-fixture';

type Ender = (f: Fleet, podId: string) => Promise<void>;

const HOUR = 3_600_000;

const cases: { name: string; reason: EndReason; end: Ender; rent?: Record<string, unknown> }[] = [
  {
    name: 'released from another client (another machine with the same token)',
    reason: 'returned',
    end: async (f, podId) => {
      const other = new KgpuClient({ apiBase: f.sim.apiBase, getToken: async () => f.sim.token });
      try {
        await other.release(podId);
      } finally {
        await other.close();
      }
    },
  },
  {
    name: 'out of credits (balance reaches zero on the simulated clock)',
    reason: 'out_of_credits',
    end: async (f) => {
      for (const a of f.sim.state.accounts.values()) a.credits = 1;
      await f.sim.clock.advance(60_000);
    },
  },
  {
    name: 'auto_idle (24 h without SSH activity, the job sleeping)',
    reason: 'auto_idle',
    end: async (f) => {
      for (const a of f.sim.state.accounts.values()) a.credits = 1e9;
      await f.sim.clock.advance(24 * HOUR + 60_000);
    },
  },
  {
    name: 'evicted: OOMKilled',
    reason: 'evicted_by_kubelet:OOMKilled',
    end: (f, podId) => f.sim.faults.endPod(podId, 'evicted_by_kubelet:OOMKilled'),
  },
  {
    name: "evicted: OOMKilled through the pod's real memory limit (128Mi; a process allocates 400 MiB)",
    reason: 'evicted_by_kubelet:OOMKilled',
    rent: { memory: '128Mi' },
    end: async (f, podId) => {
      const r = await f.client.exec(podId, { cmd: ['python3', '-c', 'b = bytearray(400 << 20); b[-1] = 1; print("survived")'] });
      assert.equal(r.exit_code, 137, `the kernel's OOM killer SIGKILLs it: ${JSON.stringify(r)}`);
      await waitFor('kgpu to end the pod', async () => (await f.client.getPod(podId)).end_reason ?? undefined);
    },
  },
  {
    name: 'evicted: OutOfephemeral-storage',
    reason: 'evicted_by_kubelet:OutOfephemeral-storage',
    end: (f, podId) => f.sim.faults.endPod(podId, 'evicted_by_kubelet:OutOfephemeral-storage'),
  },
];

for (const c of cases) {
  test(`pod ends under an unsaved edit and a running job — ${c.name}: save refused with the reason, job ended with it, one report each`, async (t) => {
    const f = await startFleet(1, { rent: c.rent });
    t.after(() => f.stop());
    const pod = f.pods[0]!;
    const model = new RentalsModel(() => ({
      signedIn: true,
      api: {
        listPods: () => f.client.listPods(),
        getPod: (id) => f.client.getPod(id),
        me: () => f.client.getMe(),
        gpuModels: () => f.client.listGpuModels(),
      },
    }));
    t.after(() => model.dispose());
    const runner = f.runner();
    const wfs = pod.fs();

    // The spine's wiring (src/jobs/jobs-view.ts, src/files/file-system.ts).
    const ended: Extract<PodStateChange, { kind: 'ended' }>[] = [];
    const failures: RefreshFailure[] = [];
    const jobEnds: JobEndEvent[] = [];
    const fsEnds: string[] = [];
    model.onDidEndPod((e) => {
      ended.push(e);
      runner.podEnded(e.pod.pod_id, e.endReason);
      wfs.markEnded(describeEndReason(e.endReason as EndReason).label);
    });
    model.onDidFail((e) => failures.push(e));
    runner.onDidEnd((e) => jobEnds.push(e));
    wfs.onDidEnd((r) => fsEnds.push(r));
    await model.refresh();

    // A file open in the editor (read through the provider), and a job running with its log followed.
    const p = '/workspace/train.py';
    const original = Buffer.from('print("epoch", 1)\n');
    await wfs.writeFile(p, original, { create: true, overwrite: true });
    assert.equal(sha(await wfs.readFile(p)), sha(original));
    await podWrite(pod, '/workspace/job.py', 'import time\nprint("step 1", flush=True)\ntime.sleep(600)\n');
    const log: Buffer[] = [];
    const h = runner.runFile({
      podId: pod.podId,
      target: { kind: 'pod', path: '/workspace/job.py' },
      python: 'python3',
      args: [],
      env: {},
      onData: (b) => void log.push(b),
    });
    h.done.catch(() => undefined);
    await h.started;
    await waitFor('the first log line', () => Buffer.concat(log).toString().includes('step 1\n'));

    await c.end(f, pod.podId);
    assert.equal((await f.client.getPod(pod.podId)).end_reason, c.reason, 'the simulator ended the pod as asked');

    // The unsaved edit: the save fails with the reason; the bytes the caller holds are untouched.
    const edited = Buffer.from('print("epoch", 2)  # unsaved\n');
    const editedHash = sha(edited);
    const label = describeEndReason(c.reason).label;
    for (let i = 0; i < 3; i++) {
      await assert.rejects(wfs.writeFile(p, edited, { create: true, overwrite: true }), (e: unknown) => {
        assert.ok(e instanceof WorkspaceFsError, String(e));
        assert.equal(e.kind, 'PodEnded', e.message);
        assert.match(e.message, /pod ended/i);
        assert.ok(e.message.includes(label), `${e.message} names "${label}"`);
        return true;
      });
    }
    assert.equal(sha(edited), editedHash, 'the caller keeps its data');
    assert.equal(sha(await wfs.readFile(p)), sha(original), 'the last saved content stays readable from the cache');

    // Polling sees the end once, however often it refreshes.
    for (let i = 0; i < 4; i++) await model.refresh();
    assert.equal(ended.length, 1, 'one ended event');
    assert.equal(ended[0]!.endReason, c.reason);
    assert.deepEqual(failures, [], 'no refresh failure');
    assert.equal(fsEnds.length, 1, 'the file system reports the end once');
    assert.equal(fsEnds[0], label);
    const notice = podNotice(ended[0]!, { releasedHere: new Set(), awaitingReady: new Set() });
    assert.ok(notice, 'one notice for the user');
    assert.ok(notice.message.length > 0);
    if (c.reason === 'evicted_by_kubelet:OOMKilled') {
      // "Rent with more memory…", pre-filled with more than the evicted pod had.
      const more = notice.actions.find((a) => /more memory/.test(a.title));
      assert.ok(more, JSON.stringify(notice.actions));
      const offered = (more.args?.[0] as { memory?: string }).memory;
      assert.equal(offered, c.rent ? '1Gi' : '32Gi', 'double the memory, at least 1 GiB');
    }

    // The job: ended with the pod, with the reason; its log follow settles (no hanging spinner).
    const job = await waitFor('the job to end', () => {
      const j = runner.get(pod.podId, h.jobId);
      return j && j.info.status.state !== 'running' ? j : undefined;
    });
    if (c.reason === 'evicted_by_kubelet:OOMKilled') assert.deepEqual(job.info.status, { state: 'oom', evidence: 'pod-evicted' });
    else {
      assert.equal(job.info.status.state, 'lost');
      assert.ok(job.info.status.state === 'lost' && job.info.status.reason.includes(c.reason), JSON.stringify(job.info.status));
    }
    assert.equal(job.podEndReason, c.reason);
    await waitFor(
      'the log follow to settle',
      async () => {
        const r = await Promise.race([
          h.done.then(
            () => 'done',
            () => 'failed',
          ),
          new Promise((res) => setImmediate(() => res(undefined))),
        ]);
        return r;
      },
      15_000,
    );
    await runner.refresh(pod.podId).catch(() => undefined); // a refresh of an ended pod must not resurrect the job
    assert.equal(jobEnds.filter((e) => e.job.info.id === h.jobId).length, 1, 'the job end is reported once');
    assert.ok(Buffer.concat(log).toString().startsWith('step 1\n'), 'the log received before the end is kept');
  });
}

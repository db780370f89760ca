/** waitUntilReady against the simulator: progress, readiness, endings, cancellation, cadence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture } from './api-fixture';
import {
  KgpuApiError,
  PodEndedError,
  WaitTimeoutError,
  pollIntervalMs,
  waitUntilReady,
  type CallOptions,
  type WaitProgress,
} from '../../../../src/kgpu/index';

const FAST = { intervalMs: 5, pollFloorMs: 0 };

test('reports Pending with its pending_reason, then resolves with the ready pod once the cold start is over', async (t) => {
  const { sim, client } = await apiFixture(t, { coldStartMs: 45_000 });
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  const seen: WaitProgress[] = [];
  let advanced = false;
  const pod = await client.waitUntilReady(rent.pod_id, {
    ...FAST,
    onProgress: (p) => {
      seen.push(p);
      // Let the simulated cold start pass once we have seen the pod Pending twice.
      if (!advanced && seen.filter((s) => s.phase === 'Pending').length === 2) {
        advanced = true;
        void sim.clock.advance(45_000);
      }
    },
  });
  assert.equal(pod.pod_id, rent.pod_id);
  assert.equal(pod.phase, 'Running');
  assert.equal(pod.ready, true);
  assert.ok(seen.length >= 3);
  assert.deepEqual(
    seen.slice(0, 2).map((s) => [s.phase, s.ready, s.pendingReason]),
    [
      ['Pending', false, 'starting'],
      ['Pending', false, 'starting'],
    ],
  );
  assert.deepEqual(
    seen.map((s) => s.polls),
    seen.map((_, i) => i + 1),
  );
  const last = seen.at(-1)!;
  assert.deepEqual([last.phase, last.ready, last.pendingReason], ['Running', true, null]);
});

test('rejects with PodEndedError carrying the end_reason when the pod is evicted while waiting', async (t) => {
  const { sim, client } = await apiFixture(t, { coldStartMs: 3_600_000 });
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  let ended = false;
  const e = await client
    .waitUntilReady(rent.pod_id, {
      ...FAST,
      onProgress: () => {
        if (!ended) {
          ended = true;
          void sim.endPod(rent.pod_id, 'evicted_by_kubelet:OOMKilled');
        }
      },
    })
    .catch((x: unknown) => x);
  assert.ok(e instanceof PodEndedError, String(e));
  assert.equal(e.podId, rent.pod_id);
  assert.equal(e.endReason, 'evicted_by_kubelet:OOMKilled');
  assert.ok(['Terminating', 'Ended', 'Failed'].includes(e.phase), e.phase);
  assert.equal(e.label, 'Evicted: out of memory');
  assert.match(e.message, /^Pod \S+ will not become ready — Evicted: out of memory\. Rent again with more memory/);
});

test('an image that does not exist: ImagePullBackOff while Pending, then "Never started" once kgpu releases it', async (t) => {
  const { sim, client } = await apiFixture(t);
  const rent = await client.rent({ gpu_model: 'rtx3080', image: 'ghcr.io/nobody/no-such-image:1' });
  const reasons: (string | null)[] = [];
  const e = await client
    .waitUntilReady(rent.pod_id, {
      ...FAST,
      onProgress: (p) => {
        reasons.push(p.pendingReason);
        if (reasons.length === 1) void sim.clock.advance(6 * 60_000); // auto-released ~5 min after creation
      },
    })
    .catch((x: unknown) => x);
  assert.match(reasons[0] ?? '', /^ImagePullBackOff/);
  assert.ok(e instanceof PodEndedError, String(e));
  assert.match(e.endReason ?? '', /^start_failed:/);
  assert.match(e.label, /^Never started: ImagePullBackOff/);
  assert.match(e.nextAction, /image name/);
});

test('already ended pods reject at once; unknown pods reject with the 404', async (t) => {
  const { client } = await apiFixture(t);
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  await client.release(rent.pod_id);
  const e = await client.waitUntilReady(rent.pod_id, FAST).catch((x: unknown) => x);
  assert.ok(e instanceof PodEndedError);
  assert.equal(e.label, 'Released by you');
  const nf = await client.waitUntilReady('gpu-nope-1-aa', FAST).catch((x: unknown) => x);
  assert.ok(nf instanceof KgpuApiError && nf.status === 404);
});

test('cancel: AbortSignal rejects promptly with an AbortError at the default 10 s cadence, with no poll and no timer after', async (t) => {
  const { client } = await apiFixture(t, { coldStartMs: 3_600_000 });
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  // A counting view of the real client, to see every poll.
  let polls = 0;
  const reader = { getPod: (id: string, o?: CallOptions) => (polls++, client.getPod(id, o)) };
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const ac = new AbortController();
  let firstProgress!: () => void;
  const progressed = new Promise<void>((r) => (firstProgress = r));
  const timersBefore = timers();
  const waiting = waitUntilReady(reader, rent.pod_id, { signal: ac.signal, onProgress: () => firstProgress() });
  await progressed; // now sleeping the 10 s interval
  const t0 = Date.now();
  ac.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  assert.ok(Date.now() - t0 < 5_000, 'rejected without sleeping out the 10 s interval (a hang bound, not a speed goal)');
  assert.equal(polls, 1);
  assert.equal(timers(), timersBefore, 'the interval timer was cleared');
  // Aborted before it starts: rejects without a request.
  await assert.rejects(waitUntilReady(reader, rent.pod_id, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal(polls, 1);
});

test('cadence: 10 s by default and never below the floor unless a test lowers it', () => {
  assert.equal(pollIntervalMs(), 10_000);
  assert.equal(pollIntervalMs({ intervalMs: 1_000 }), 10_000);
  assert.equal(pollIntervalMs({ intervalMs: 15_000 }), 15_000);
  assert.equal(pollIntervalMs({ intervalMs: 5, pollFloorMs: 0 }), 5);
});

test('timeoutMs: gives up with WaitTimeoutError saying where the pod is stuck', async (t) => {
  const { client } = await apiFixture(t, { coldStartMs: 3_600_000 });
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  const e = await client.waitUntilReady(rent.pod_id, { intervalMs: 20, pollFloorMs: 0, timeoutMs: 100 }).catch((x: unknown) => x);
  assert.ok(e instanceof WaitTimeoutError, String(e));
  assert.match(e.message, new RegExp(`^Pod ${rent.pod_id} is still not ready after 100 ms — it is Pending \\(starting\\)\\.`));
});

test('running out of credits while waiting: "Ended: out of credits" with what to do next', async (t) => {
  const { sim, client } = await apiFixture(t, { credits: 30, coldStartMs: 3_600_000 });
  const rent = await client.rent({ gpu_model: 'rtx3080' }); // 5 credits a minute
  let advanced = false;
  const e = await client
    .waitUntilReady(rent.pod_id, {
      ...FAST,
      onProgress: () => {
        if (!advanced) {
          advanced = true;
          void sim.clock.advance(10 * 60_000);
        }
      },
    })
    .catch((x: unknown) => x);
  assert.ok(e instanceof PodEndedError, String(e));
  assert.equal(e.endReason, 'out_of_credits');
  assert.equal(e.label, 'Ended: out of credits');
  assert.match(e.nextAction, /^Top up your credits/);
});

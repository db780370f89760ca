/** The refresh cadence never polls faster than the contract asks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  nextPollDelayMs,
  PollTimer,
  LIVE_POLL_MS,
  HIDDEN_LIVE_POLL_MS,
  IDLE_POLL_MS,
  MAX_BACKOFF_MS,
  type PollInputs,
} from '../../../../src/kgpu/util/poll-schedule';

const base: PollInputs = {
  pollIntervalSeconds: 10,
  signedIn: true,
  hasPending: false,
  hasLive: false,
  viewsVisible: true,
  consecutiveFailures: 0,
};

test('10–15 s only while a pod is Pending (even hidden), slower otherwise, paused when hidden and idle', () => {
  assert.equal(nextPollDelayMs({ ...base, hasPending: true, hasLive: true }), 10_000);
  assert.equal(
    nextPollDelayMs({ ...base, hasPending: true, hasLive: true, pollIntervalSeconds: 60 }),
    15_000,
    'capped at 15 s while Pending',
  );
  assert.equal(nextPollDelayMs({ ...base, hasPending: true, hasLive: true, viewsVisible: false }), 10_000);
  assert.equal(nextPollDelayMs({ ...base, hasLive: true }), LIVE_POLL_MS);
  assert.equal(nextPollDelayMs({ ...base, hasLive: true, viewsVisible: false }), HIDDEN_LIVE_POLL_MS);
  assert.equal(nextPollDelayMs({ ...base }), IDLE_POLL_MS);
  assert.equal(nextPollDelayMs({ ...base, viewsVisible: false }), undefined);
  assert.equal(nextPollDelayMs({ ...base, signedIn: false, hasPending: true }), IDLE_POLL_MS, 'signed out: only the public menu');
});

test('failures back off exponentially up to 5 min; no input ever gives less than 10 s', () => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 10].map((n) =>
    nextPollDelayMs({ ...base, hasPending: true, hasLive: true, consecutiveFailures: n })!,
  );
  assert.deepEqual(delays.slice(0, 4), [15_000, 30_000, 60_000, 120_000]);
  assert.equal(Math.max(...delays), MAX_BACKOFF_MS);
  for (const pollIntervalSeconds of [1, 10, 60, 600]) {
    for (const hasPending of [true, false]) {
      for (const viewsVisible of [true, false]) {
        for (const consecutiveFailures of [0, 1, 9]) {
          const d = nextPollDelayMs({ ...base, pollIntervalSeconds, hasPending, hasLive: hasPending, viewsVisible, consecutiveFailures });
          if (d !== undefined) assert.ok(d >= 10_000, `${d} ms`);
        }
      }
    }
  }
});

test('PollTimer re-reads its delay after each tick and stops when the delay is undefined', async () => {
  let delay: number | undefined = 1;
  let ticks = 0;
  let resolveTicks!: () => void;
  const twice = new Promise<void>((r) => (resolveTicks = r));
  const timer = new PollTimer(
    () => delay,
    async () => {
      ticks++;
      if (ticks === 2) {
        delay = undefined;
        resolveTicks();
      }
    },
    false,
  );
  timer.reschedule();
  await twice;
  timer.reschedule(); // stays stopped: the delay is undefined
  await new Promise((r) => setImmediate(r));
  assert.equal(ticks, 2);
  timer.dispose();
});

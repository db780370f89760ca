/**
 * Security finding 8: job polling used to try every 5 s whatever happened — a pod that could not
 * be reached (or whose key's passphrase the user had just cancelled) was tried, and the
 * passphrase asked for, again every 5 s. Now a pod whose poll fails is tried again later and
 * later (doubling, capped), the others keep their cadence, and a cancelled passphrase is not
 * asked for again until the user acts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { PassphraseDeclinedError, PassphraseGate } from '../../../src/kgpu/ssh/passphrase-gate';
import type { PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { MapStore, podWrite, startFleet, waitFor } from '../reliability/fleet-fixture';

test('job polling backs off while a pod cannot be reached, and returns to its cadence once it can', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await podWrite(pod, '/workspace/wait.py', 'import time\nwhile True: time.sleep(0.05)\n');
  const pollMs = 40;
  let reachable = true;
  const attempts: number[] = [];
  const runner = new JobRunner({
    store: new MapStore(),
    pollMs,
    // The editor's connection layer: it fails while the pod cannot be reached (or no passphrase).
    commands: async (): Promise<PodCommands> => {
      if (!reachable) {
        attempts.push(performance.now());
        throw new PassphraseDeclinedError('/home/me/.ssh/id_ed25519');
      }
      return pod.commands();
    },
  });
  t.after(() => runner.dispose());
  // A running job without an open log: the poller watches it.
  const h = runner.runFile({ podId: pod.podId, target: { kind: 'pod', path: '/workspace/wait.py' }, python: 'python3', args: [], env: {} });
  await h.started;
  h.stream.close();
  await h.done.catch(() => undefined);
  assert.equal(runner.get(pod.podId, h.jobId)?.info.status.state, 'running');

  reachable = false;
  await waitFor('6 failed polls', () => attempts.length >= 6, 30_000);
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
  // Each wait at least doubles (timers never fire early; a little slack for rounding).
  gaps.forEach((g, i) =>
    assert.ok(
      g >= pollMs * 2 ** (i + 1) * 0.9,
      `gap ${i + 1} after ${i + 1} failures: ${g.toFixed(0)} ms, want ≥ ${pollMs * 2 ** (i + 1)} ms (all: ${gaps.map((x) => x.toFixed(0)).join(', ')})`,
    ),
  );

  // Reachable again: the next poll sees the job end.
  reachable = true;
  await pod.sh("pkill -f 'wait[.]py' || true");
  await waitFor(
    'the poller to see the job end',
    () => runner.get(pod.podId, h.jobId)?.info.status.state !== 'running' || undefined,
    60_000,
  );
});

test('a cancelled passphrase is not asked for again until the user acts; concurrent connections share one prompt', async () => {
  const gate = new PassphraseGate();
  let prompts = 0;
  let answer: string | undefined;
  const prompt = async (): Promise<string | undefined> => {
    prompts++;
    await new Promise((r) => setImmediate(r));
    return answer;
  };
  const file = '/home/me/.ssh/id_locked';
  // Cancelled (Escape): refused, and the next 5 connections do not ask again.
  await assert.rejects(
    gate.get(file, prompt),
    (e: unknown) => e instanceof PassphraseDeclinedError && /No passphrase given for .*id_locked/.test(e.message),
  );
  for (let i = 0; i < 5; i++) await assert.rejects(gate.get(file, prompt), PassphraseDeclinedError);
  assert.equal(prompts, 1);
  assert.match(new PassphraseDeclinedError(file).message, /will not ask again until you choose "Enter Passphrase…"/);

  // The user acts: asked once more, for several connections at once; then remembered.
  gate.allowAgain(file);
  answer = 'correct horse';
  const all = await Promise.all([gate.get(file, prompt), gate.get(file, prompt), gate.get(file, prompt)]);
  assert.deepEqual(all, ['correct horse', 'correct horse', 'correct horse']);
  assert.equal(prompts, 2);
  assert.equal(await gate.get(file, prompt), 'correct horse');
  assert.equal(prompts, 2);
});

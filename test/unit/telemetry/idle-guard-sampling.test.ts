/**
 * The idle guard judges a billed pod whether or not a kgpu view is open (issue 19): with no view
 * visible and no job of this window running, the live numbers stay off but the guard samples the
 * GPUs itself (telemetryMode 'guard'), and asks after 30 idle minutes of the simulator's clock.
 * Once the question is open, or the window has been unfocused for 10 minutes, nothing samples.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AgentClient } from '../../../src/kgpu/agent';
import { execStream } from '../../../src/kgpu/ssh/ssh-exec';
import { PodGpuWatch, telemetryMode, UNFOCUSED_STOP_MS } from '../../../src/kgpu/telemetry';
import { startFleet, waitFor, type Fleet } from '../reliability/fleet-fixture';

const MIN = 60_000;
let f: Fleet;
before(async () => {
  f = await startFleet(1);
  for (const a of f.sim.state.accounts.values()) a.credits = 1e9;
});
after(async () => {
  await f?.stop();
});

test('no kgpu view and no job: the guard samples on its own and asks after 30 idle minutes; nothing samples while the question is open or the window is away', async () => {
  const inputs = { viewVisible: false, jobRunning: false, unfocusedForMs: 0, idleQuestionPending: false, idleGuardOn: true };
  assert.equal(telemetryMode({ ...inputs, viewVisible: true }), 'live');
  assert.equal(telemetryMode({ ...inputs, idleGuardOn: false }), 'off');
  assert.equal(telemetryMode({ ...inputs, unfocusedForMs: UNFOCUSED_STOP_MS }), 'off');
  const mode = telemetryMode(inputs);

  const connector = f.pods[0].connector();
  const client = new AgentClient({ exec: (cmd, o) => execStream(connector, cmd, o) });
  const watch = new PodGpuWatch({
    openStream: (t, o) => client.openStream(t, o),
    now: () => f.sim.clock.now(),
    minutes: () => 30,
    jobRunning: () => false,
    guardSampleMs: 200, // the editor's is a minute; the judging is the same
  });
  const asked: number[] = [];
  watch.onDidAsk((at) => asked.push(at));
  let samples = 0;
  watch.sampler.onDidSample(() => samples++);
  try {
    watch.setMode(mode);
    assert.equal(watch.live.running, false, 'no live numbers without a view');
    await waitFor('the pod judged idle by the guard alone', () => watch.guard.idleSinceMs !== undefined, 60_000);
    await f.sim.clock.advance(31 * MIN);
    await waitFor('the question', () => asked.length === 1, 60_000);
    assert.ok(watch.guard.pending);

    watch.setMode(telemetryMode({ ...inputs, idleQuestionPending: watch.guard.pending }));
    assert.equal(watch.mode, 'off');
    assert.equal(watch.sampler.running, false, 'nothing samples while the question is open');
    const seen = samples;
    watch.guard.answer('keep', f.sim.clock.now());
    watch.setMode(telemetryMode({ ...inputs, unfocusedForMs: UNFOCUSED_STOP_MS }));
    assert.equal(watch.sampler.running || watch.live.running, false, 'nothing samples for a window away 10 minutes');
    assert.equal(samples, seen);
  } finally {
    watch.dispose();
    client.dispose();
  }
});

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
  let busySamples = 0;
  watch.sampler.onDidSample((s) => {
    samples++;
    if (s.gpus.some((g) => g.utilization >= 5)) busySamples++;
  });
  try {
    watch.setMode(mode);
    assert.equal(watch.live.running, false, 'no live numbers without a view');
    await waitFor('the pod judged idle by the guard alone', () => watch.guard.idleSinceMs !== undefined, 60_000);
    assert.equal(asked.length, 0, 'not asked before 30 idle minutes');
    // The simulator's nvidia-smi counts every pod process's CPU as GPU use, and in the test's 200 ms
    // window one 10 ms jiffy of the agent relaying nvidia-smi's own lines is already 5 %: busy. Such a
    // blip rightly restarts the idle period, and on the frozen clock the period then never reaches 30
    // minutes (a full run failed so: the blip fell next to the one advance). So whenever a sample came
    // since the last advance and no question, let another 31 minutes pass (bounded); what is asserted
    // is the guard's promise — asked once, after 30 idle minutes, with no view and no job.
    let advances = 0;
    let samplesAtAdvance = -1;
    await waitFor(
      'the question',
      async () => {
        if (asked.length > 0) return true;
        if (samples > samplesAtAdvance && advances < 5) {
          samplesAtAdvance = samples;
          advances++;
          await f.sim.clock.advance(31 * MIN);
        }
        return false;
      },
      60_000,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message} (samples ${samples}, busy ${busySamples}, advances ${advances}, idle since ${watch.guard.idleSinceMs})`,
      );
    });
    assert.equal(asked.length, 1);
    assert.ok(asked[0] - (watch.guard.idleSinceMs ?? asked[0]) >= 30 * MIN, 'asked after 30 idle minutes');
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

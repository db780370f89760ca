/**
 * GPU telemetry through the pod agent against a simulator pod (an RTX 4090: 24 GiB), whose
 * nvidia-smi derives its numbers from the pod's real processes: a busy Python process holding
 * 256 MiB moves utilisation and memory up, and they fall back when it ends; the peak is kept for
 * the job footer; one nvidia-smi process per start; stop() ends it in the pod and lets the agent
 * close after its quiet period; the wire cost per GPU per tick stays under 1 KB. Plus the pure
 * parts: parsing, formatting, the demand rule and the focus clock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  FocusClock,
  formatGpuSummary,
  GpuTelemetry,
  parseGpuLine,
  telemetryWanted,
  UNFOCUSED_STOP_MS,
  type GpuSnapshot,
} from '../../../src/kgpu/telemetry';
import { startAgentFixture, waitFor, type AgentFixture } from '../agent/agent-fixture';

let f: AgentFixture;
before(async () => {
  f = await startAgentFixture();
});
after(async () => {
  await f?.stop();
});

const MiB = 1;

test('telemetry moves with a real busy process in the pod, keeps the peak, and stops cleanly', async () => {
  const client = f.client({ idleCloseMs: 300 });
  const t = new GpuTelemetry({ openStream: (target, o) => client.openStream(target, o), intervalMs: 250 });
  const snaps: GpuSnapshot[] = [];
  t.onDidSample((s) => snaps.push(s));
  try {
    t.start();
    const first = await waitFor('a first snapshot', () => t.latest, 20_000);
    assert.equal(first.gpus.length, 1);
    assert.equal(first.gpus[0].index, 0);
    assert.equal(Math.round(first.gpus[0].memoryTotalMiB / 1024), 24, 'an RTX 4090 has 24 GiB');
    const quiet = await waitFor('an idle reading', () => snaps.find((s) => s.gpus[0].utilization < 5), 20_000);
    const baseUsed = quiet.gpus[0].memoryUsedMiB;
    const peak = t.trackPeak();

    // A busy process: two processes spinning (this machine is shared: under load each gets a
    // small share of a core, still far above the idle guard's 5 %), 256 MiB written (resident).
    const busy = await client.openStream({
      kind: 'process',
      argv: ['python3', '-c', 'import os\nb = b"\\x01" * (256 << 20)\nos.fork()\nwhile True: pass'],
    });
    busy.resume();
    const hot = await waitFor(
      'utilisation and memory to rise',
      () => snaps.find((s) => s.gpus[0].utilization >= 5 && s.gpus[0].memoryUsedMiB - baseUsed >= 200 * MiB),
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; base ${baseUsed} MiB; last: ${JSON.stringify(snaps.slice(-5).map((s) => s.gpus[0]))}`);
    });
    assert.ok(hot.gpus[0].utilization <= 100);
    assert.match(formatGpuSummary(hot.gpus), /^GPU \d+% · \d+(\.\d)?\/24 GiB$/);
    const pid = busy.pid;
    busy.destroy();
    assert.ok(pid);
    await waitFor('the busy process to end', async () => !(await f.alive(pid)));
    const n = snaps.length;
    await waitFor(
      'utilisation to fall back',
      () => snaps.slice(n).find((s) => s.gpus[0].utilization < 5 && s.gpus[0].memoryUsedMiB - baseUsed < 100 * MiB),
      30_000,
    );
    assert.ok((peak.peakMiB ?? 0) - baseUsed >= 200, `the peak kept the busy process's memory (${peak.peakMiB} vs ${baseUsed})`);
    peak.dispose();

    // One nvidia-smi loop for the whole run, under 1 KB per GPU per tick on the wire (9-byte frame header each).
    assert.equal(t.streamsOpened, 1);
    const perTick = (t.bytesReceived + 9 * t.snapshots) / t.snapshots;
    assert.ok(perTick < 1000, `${perTick} bytes per GPU per tick`);

    // stop(): nvidia-smi ends in the pod, the agent closes after its quiet period (telemetry does not keep it up).
    assert.match(await f.sh('pgrep -f -- "--query-gpu=[i]ndex,utilization.gpu" || true'), /\d/);
    t.stop();
    assert.equal(t.latest, undefined);
    await waitFor(
      'nvidia-smi to end in the pod',
      async () => (await f.sh('pgrep -f -- "--query-gpu=[i]ndex,utilization.gpu" || true')).trim() === '',
    );
    await waitFor('the agent to close after its quiet period', () => client.state === 'idle');
    assert.equal(client.stats.idleCloses, 1);
  } finally {
    t.dispose();
  }
});

test('a dropped connection restarts the telemetry stream while it is wanted', async () => {
  const client = f.client();
  const t = new GpuTelemetry({ openStream: (target, o) => client.openStream(target, o), intervalMs: 250, retryMs: 100 });
  try {
    t.start();
    await waitFor('a first snapshot', () => t.latest, 20_000);
    f.pod.bastion.dropConnections({ podId: f.pod.podId });
    await waitFor('a second stream', () => t.streamsOpened === 2, 20_000);
    const n = t.snapshots;
    await waitFor('snapshots again', () => t.snapshots > n, 20_000);
    assert.equal(client.stats.drops, 1);
  } finally {
    t.dispose();
  }
});

test('nvidia-smi lines: parsed and bounded; summaries for one and several GPUs', () => {
  assert.deepEqual(parseGpuLine('0, 87, 14540, 24564'), { index: 0, utilization: 87, memoryUsedMiB: 14540, memoryTotalMiB: 24564 });
  for (const bad of [
    '',
    'index, utilization.gpu [%], memory.used [MiB], memory.total [MiB]',
    '0, [N/A], 1, 2',
    '0, 1, 2',
    '-1, 5, 1, 2',
    '0, 5, 1, 2, 3',
    `0, 5, 1, ${'9'.repeat(300)}`,
  ]) {
    assert.equal(parseGpuLine(bad), undefined, bad);
  }
  assert.equal(parseGpuLine('0, 250, 1, 2')?.utilization, 100);
  assert.equal(formatGpuSummary([{ index: 0, utilization: 87, memoryUsedMiB: 14540, memoryTotalMiB: 24564 }]), 'GPU 87% · 14.2/24 GiB');
  assert.equal(
    formatGpuSummary([
      { index: 0, utilization: 90, memoryUsedMiB: 10240, memoryTotalMiB: 32768 },
      { index: 1, utilization: 70, memoryUsedMiB: 5120, memoryTotalMiB: 32768 },
    ]),
    '2 GPUs 80% · 15/64 GiB',
  );
  assert.equal(formatGpuSummary([]), '');
});

test('telemetry runs only while a view is visible, a job runs or a notebook editor uses a kgpu kernel on the pod, never after 10 unfocused minutes or with the idle question open', () => {
  const base = { viewVisible: false, jobRunning: false, unfocusedForMs: 0, idleQuestionPending: false };
  assert.equal(telemetryWanted(base), false);
  assert.equal(telemetryWanted({ ...base, viewVisible: true }), true);
  assert.equal(telemetryWanted({ ...base, jobRunning: true }), true);
  assert.equal(telemetryWanted({ ...base, jobRunning: true, unfocusedForMs: UNFOCUSED_STOP_MS - 1 }), true);
  assert.equal(telemetryWanted({ ...base, jobRunning: true, viewVisible: true, unfocusedForMs: UNFOCUSED_STOP_MS }), false);
  assert.equal(telemetryWanted({ ...base, viewVisible: true, idleQuestionPending: true }), false);
  assert.equal(telemetryWanted({ ...base, inUse: true }), true, 'the active notebook uses a kgpu kernel on the pod');
  assert.equal(telemetryWanted({ ...base, inUse: true, unfocusedForMs: UNFOCUSED_STOP_MS }), false);
  assert.equal(telemetryWanted({ ...base, inUse: true, idleQuestionPending: true }), false);
  let now = 1000;
  const focus = new FocusClock(true, () => now);
  assert.equal(focus.unfocusedForMs, 0);
  focus.set(false);
  now += 60_000;
  focus.set(false);
  assert.equal(focus.unfocusedForMs, 60_000, 'a second blur does not restart the count');
  assert.equal(focus.msUntilStop, UNFOCUSED_STOP_MS - 60_000);
  now += UNFOCUSED_STOP_MS;
  assert.equal(focus.msUntilStop, undefined);
  focus.set(true);
  assert.equal(focus.unfocusedForMs, 0);
});

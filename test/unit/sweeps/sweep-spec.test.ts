/**
 * A sweep's argument sets (src/kgpu/sweeps/grid.ts), the metrics a run printed
 * (src/kgpu/sweeps/metrics.ts) and the Sweeps view's rows (src/kgpu/sweeps/sweep-view-model.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SWEEP_RUNS, parseSweepJson, parseSweepLine } from '../../../src/kgpu/sweeps/grid';
import { metricsOfLine, MetricsReader } from '../../../src/kgpu/sweeps/metrics';
import { newSweepPlan } from '../../../src/kgpu/sweeps/sweep';
import { sweepMetricNames, sweepRow, sweepRunRows } from '../../../src/kgpu/sweeps/sweep-view-model';

test('a grid typed as arguments: commas are alternatives, the product in the order typed, other words kept', () => {
  assert.deepEqual(parseSweepLine('--lr 1e-3,3e-4 --bs 32,64 --epochs 2').runs, [
    ['--lr', '1e-3', '--bs', '32', '--epochs', '2'],
    ['--lr', '1e-3', '--bs', '64', '--epochs', '2'],
    ['--lr', '3e-4', '--bs', '32', '--epochs', '2'],
    ['--lr', '3e-4', '--bs', '64', '--epochs', '2'],
  ]);
  assert.deepEqual(parseSweepLine('--name "a b"').runs, [['--name', 'a b']]);
  assert.throws(() => parseSweepLine('--lr 1,,2'), /empty alternative/);
  assert.throws(() => parseSweepLine('--a 1,2,3,4,5,6,7,8 --b 1,2,3,4,5,6,7,8 --c 1,2,3,4,5'), new RegExp(`more than ${MAX_SWEEP_RUNS}`));
});

test('sweep.json: a grid (flags as true/false), or a list of runs; args appended to each', () => {
  assert.deepEqual(
    parseSweepJson(JSON.stringify({ grid: { '--lr': [0.001, '3e-4'], '--amp': [true, false] }, args: ['--epochs', 2] })).runs,
    [
      ['--lr', '0.001', '--amp', '--epochs', '2'],
      ['--lr', '0.001', '--epochs', '2'],
      ['--lr', '3e-4', '--amp', '--epochs', '2'],
      ['--lr', '3e-4', '--epochs', '2'],
    ],
  );
  assert.deepEqual(parseSweepJson('{"runs": [["--tag", "a,b"], []]}').runs, [['--tag', 'a,b'], []]);
  assert.throws(() => parseSweepJson('{"runs": []}'), /non-empty/);
  assert.throws(() => parseSweepJson('{"grid": {"--x": [{"a": 1}]}}'), /not a string or a number/);
  assert.throws(() => parseSweepJson('[1]'), /must be an object/);
  assert.throws(() => parseSweepJson('{'), /not valid JSON/);
});

test('metrics: {"metric", "value"} lines and flat objects of numbers, behind rank prefixes or a \\r progress bar, the last value counts', () => {
  assert.deepEqual(metricsOfLine('{"metric": "loss", "value": 0.5}'), { loss: 0.5 });
  assert.deepEqual(metricsOfLine('[default0]:{"metric": "loss", "value": 0.25}'), { loss: 0.25 });
  assert.deepEqual(metricsOfLine('\repoch 1 step 9\r{"acc": 0.9, "step": 3, "name": "x"}'), { acc: 0.9 });
  assert.deepEqual(metricsOfLine('{"metric": "loss", "value": "high"}'), {});
  assert.deepEqual(metricsOfLine('loss 0.5'), {});
  const r = new MetricsReader();
  const text = Buffer.from('{"metric": "loss", "value": 2}\nnoise\n{"metric": "loss", "val' + 'ue": 1.5}\n{"acc": 0.75}');
  for (let i = 0; i < text.length; i += 5) r.push(text.subarray(i, i + 5));
  assert.deepEqual(r.last, { loss: 1.5 });
  r.end();
  assert.deepEqual(r.last, { loss: 1.5, acc: 0.75 });
  const long = new MetricsReader();
  long.push(Buffer.from('{"x": 1' + ' '.repeat(70_000)));
  long.push(Buffer.from('}\n{"y": 2}\n'));
  assert.deepEqual(long.last, { y: 2 }, 'a line over 64 KiB is skipped, the next is read');
});

test('the Sweeps view model: one row per run with its arguments, state, duration, cost and metrics; sortable', () => {
  const plan = newSweepPlan({
    name: 'train.py',
    recipe: { target: { kind: 'pod', path: '/w/t.py' }, python: 'python' },
    pods: ['p1', 'p2'],
    runs: [
      ['--lr', '1'],
      ['--lr', '2'],
      ['--lr', '3'],
    ],
  });
  Object.assign(plan.runs[0], {
    state: 'succeeded',
    durationMs: 2000,
    credits: 0.5,
    metrics: { loss: 0.3 },
    podId: 'p1',
    jobId: 'j1',
    end: 'exit code 0',
  });
  Object.assign(plan.runs[1], {
    state: 'failed',
    durationMs: 1000,
    credits: 0.25,
    metrics: { loss: 0.1, acc: 1 },
    podId: 'p2',
    jobId: 'j2',
    end: 'exit code 2',
  });
  const rows = sweepRunRows(plan);
  assert.deepEqual(
    rows.map((r) => r.label),
    ['#1 --lr 1', '#2 --lr 2', '#3 --lr 3'],
  );
  assert.equal(rows[0].description, 'succeeded · 2.0 s · 0.50 credits · loss 0.3');
  assert.equal(rows[1].description, 'failed (exit code 2) · 1.0 s · 0.25 credits · loss 0.1 · acc 1');
  assert.equal(rows[2].description, 'queued');
  assert.deepEqual(
    sweepRunRows(plan, { by: 'metric', metric: 'loss' }).map((r) => r.index),
    [1, 0, 2],
  );
  assert.deepEqual(
    sweepRunRows(plan, { by: 'metric', metric: 'loss', descending: true }).map((r) => r.index),
    [0, 1, 2],
  );
  assert.deepEqual(
    sweepRunRows(plan, { by: 'duration' }).map((r) => r.index),
    [1, 0, 2],
  );
  assert.deepEqual(sweepMetricNames(plan), ['acc', 'loss']);
  assert.equal(sweepRow(plan).description, '1/3 done · 1 queued · 1 failed · 2 pods · 0.75 credits');
});

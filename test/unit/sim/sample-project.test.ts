/**
 * The sample project (test/e2e/sample-project, what `npm run demo` and the e2e journeys open) is
 * what a researcher would really run, and it runs in a simulated pod (issues 22 and 23):
 * - train.py: real PyTorch training with a tqdm-style progress bar, per-epoch loss lines, JSON
 *   metric lines, metrics.jsonl and checkpoints/;
 * - ddp_train.py under torchrun on a 2-GPU pod: gloo on the CPU, both ranks end with the same weights;
 * - with-deps/: its requirements.txt installs from the simulator's package index into a venv.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../sim/index';
import { rentReady, startSim } from './rest-fixture';

const SAMPLE = join(__dirname, '..', '..', 'e2e', 'sample-project');

describe('the sample project in a simulated pod', () => {
  let sim: Simulator;
  let podId: string;
  let ws: string;
  const cleanups: (() => unknown)[] = [];
  const run = async (command: string) => {
    const h = sim.state.pods.get(podId)!.handle!;
    return h.exec(['bash', '-c', command], { timeoutMs: 240_000, maxOutputBytes: 1 << 20 });
  };
  before(async () => {
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as Parameters<typeof startSim>[0];
    sim = await startSim(t);
    podId = await rentReady(sim, { gpu_model: 'rtx3090', gpu_count: 1 });
    // As after a sync of the project folder.
    ws = sim.state.pods.get(podId)!.handle!.workspaceDir;
    cpSync(SAMPLE, join(ws, 'sample'), { recursive: true });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('train.py trains for real: progress bar, loss per epoch (falling), JSON metrics, metrics.jsonl, checkpoints', async () => {
    const r = await run('cd /workspace/sample && python train.py --epochs 3 --steps 20 --bs 16 --lr 0.05 --delay 0');
    assert.equal(r.exit_code, 0, `${r.stdout.slice(-2000)}\n${r.stderr}`);
    assert.match(
      r.stdout,
      /^training y = 3x \+ 2 with a small MLP \(PyTorch [\d.]+\w*\) on cpu: 3 epochs x 20 steps, batch 16, lr 0\.05\n/,
    );
    // tqdm-style redraws with carriage returns, e.g. "\repoch 1/3:  45%|████▌     | 9/20 [00:00<00:00, 41.2it/s, loss=0.1234]"
    const bars = r.stdout.split('\r').filter((s) => /^epoch \d\/3: +\d+%\|/.test(s));
    assert.equal(bars.length, 60, 'one redraw per step');
    assert.match(bars[59], /^epoch 3\/3: 100%\|██████████\| 20\/20 \[\d\d:\d\d<\d\d:\d\d, [\d.]+it\/s, loss=[\d.]+\]/);
    const epochs = [...r.stdout.matchAll(/\repoch (\d)\/3 loss ([\d.]+) val_loss ([\d.]+) *\n/g)].map((m) => Number(m[2]));
    assert.equal(epochs.length, 3, r.stdout);
    assert.ok(epochs[2] < epochs[0], `the loss falls: ${epochs.join(' → ')}`);
    const metrics = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { metric: string; value: number });
    assert.deepEqual(
      metrics.map((m) => m.metric),
      ['loss', 'val_loss', 'loss', 'val_loss', 'loss', 'val_loss'],
    );
    const losses = metrics.filter((m) => m.metric === 'loss').map((m) => m.value);
    assert.ok(
      losses.every((v, i) => Math.abs(v - epochs[i]) <= 1e-5),
      `the JSON losses are the printed ones: ${losses.join(', ')} vs ${epochs.join(', ')}`,
    );
    assert.match(r.stdout, /done in [\d.]+s: w=[\d.-]+ b=[\d.-]+ -> checkpoints\/model\.json\n$/);

    const lines = readFileSync(join(ws, 'sample', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    assert.deepEqual(
      lines.map((l) => l.step),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    assert.ok(lines.every((l) => Number.isFinite(l.loss) && l.loss >= 0));
    const line = JSON.parse(readFileSync(join(ws, 'sample', 'checkpoints', 'model.json'), 'utf8')) as { w: number; b: number };
    assert.ok(Math.abs(line.w - 3) < 1 && Math.abs(line.b - 2) < 1, `learnt roughly y = 3x + 2: ${JSON.stringify(line)}`);
    assert.ok(existsSync(join(ws, 'sample', 'checkpoints', 'last.pt')));
  });

  it("with-deps/requirements.txt installs from the simulator's index into a venv, and its script plots train.py's metrics", async () => {
    // The quick way to a venv (no copy of pip in it: the image's pip runs inside the venv and
    // installs there); package-index.test.ts makes one with its own pip.
    const r = await run(
      'set -e; cd /workspace/sample/with-deps; python3 -m venv --system-site-packages --without-pip /tmp/venv; /tmp/venv/bin/python -m pip install --no-color -q -r requirements.txt; /tmp/venv/bin/python plot_metrics.py ../metrics.jsonl',
    );
    assert.equal(r.exit_code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^loss over 60 steps: [▁▂▃▄▅▆▇█]{60}\nfirst [\d.]+, last [\d.]+ \(mean of 5\)\n$/);
  });
});

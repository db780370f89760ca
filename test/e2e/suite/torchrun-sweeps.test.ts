// All GPUs of a pod and sweeps across pods (issue 23) through the real VS Code API against the
// simulator: the sample ddp_train.py on a 2-GPU pod with torchrun — both ranks' lines in the log
// panel, each prefixed, then one rank only (kgpu: Filter Log by Rank…); a sweep of train.py over
// two pods with the Sweeps view's rows filled (arguments, state, metrics).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import type { RunStarted } from '../../../src/jobs/run-command';
import type { SweepStarted } from '../../../src/sweeps/run-sweep-command';
import type { SweepRow, SweepRunRow } from '../../../src/kgpu/sweeps/sweep-view-model';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator } from './helpers/simulator';

const plain = (s: string): string => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

describe('torchrun on every GPU of a pod, sweeps across pods', () => {
  needsSimulator();
  let services: KgpuServices;
  const pods: string[] = [];

  before(async function () {
    this.timeout(90_000);
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
    for (const [gpu_model, gpu_count] of [
      ['rtx3090', 2],
      ['rtx3080', 1],
    ] as const) {
      const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
        gpu_model,
        gpu_count,
        name: `e2e-${gpu_model}`,
        yes: true,
      });
      assert.equal(typeof podId, 'string', `a ${gpu_model} pod`);
      pods.push(podId!);
    }
    await waitUntil(() => pods.every((p) => services.pods.get(p)?.ready === true), 20_000, 'the pods to be ready in the model');
  });

  after(async function () {
    this.timeout(30_000);
    for (const podId of pods) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  const file = (name: string): vscode.Uri => vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, name);

  it('runs ddp_train.py on both GPUs with torchrun: every line with its rank, a filter to one rank', async function () {
    this.timeout(180_000);
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', {
      podId: pods[0],
      file: file('ddp_train.py'),
      args: ['--epochs', '1', '--steps', '5'],
      launcher: 'torchrun',
    });
    assert.ok(run, 'the command resolves with the run');
    assert.deepEqual(await run.done, { state: 'exited', exitCode: 0 });
    const text = plain(run.text());
    assert.match(text, /-m torch\.distributed\.run --standalone --nproc_per_node=2 /);
    assert.match(text, /^\[rank 0\] DDP: 2 processes, backend gloo/m);
    assert.match(text, /^\[rank 0\] rank 0\/2 done in/m);
    assert.match(text, /^\[rank 1\] rank 1\/2 done in/m);
    assert.match(text, /■ exit code 0/);
    const shown = await vscode.commands.executeCommand('kgpu.filterLogByRank', { podId: pods[0], jobId: run.jobId, rank: 1 });
    assert.equal(shown, 1);
    const after = plain(run.text()).split('showing rank 1 only').pop()!;
    assert.match(after, /\[rank 1\] rank 1\/2 done in/);
    assert.doesNotMatch(after, /\[rank 0\]/);
  });

  it('sweeps train.py over two pods: every argument set a job, the Sweeps view filled with states and metrics', async function () {
    this.timeout(240_000);
    const started = await vscode.commands.executeCommand<SweepStarted | undefined>('kgpu.runSweep', {
      file: file('train.py'),
      pods,
      grid: '--epochs 1 --steps 5 --delay 0 --lr 0.1,0.2',
    });
    assert.ok(started, 'the sweep starts');
    await started.done;
    const rows = await vscode.commands.executeCommand<{ sweep: SweepRow; runs: SweepRunRow[] }>('kgpu.sweepRows', {
      sweepId: started.sweepId,
    });
    assert.ok(rows);
    assert.match(rows.sweep.description, /^2\/2 done · 2 pods · /);
    assert.deepEqual(
      rows.runs.map((r) => r.label),
      ['#1 --epochs 1 --steps 5 --delay 0 --lr 0.1', '#2 --epochs 1 --steps 5 --delay 0 --lr 0.2'],
    );
    for (const r of rows.runs) {
      assert.equal(r.state, 'succeeded');
      assert.equal(typeof r.metrics.loss, 'number', JSON.stringify(r));
      // The duration as formatDuration writes it: "8.2 s", or "1 min 16 s" for a run slowed past a minute.
      assert.match(r.description, /^succeeded · (\d+\.\d s|\d+ min \d+ s) · [\d.]+ credits · .*loss /);
    }
    assert.deepEqual(new Set(rows.runs.map((r) => r.podId)), new Set(pods), 'one run on each pod');
  });
});

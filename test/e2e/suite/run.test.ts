// Run Active File on GPU, the job rows, Stop, the pod terminal and Run Command… through the real
// VS Code API against the simulator: a rented rtx3090, the sample project's train.py synced and
// run, its log streamed into a Pseudoterminal panel with the footer, the terminal opened.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import type { RunStarted } from '../../../src/jobs/run-command';
import type { ExecOutcome } from '../../../src/kgpu/api/exec-request';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator, simApi } from './helpers/simulator';

describe('run on GPU: jobs, log panel, terminal, exec', () => {
  const sim = needsSimulator();
  let services: KgpuServices;
  let podId: string | undefined;

  before(async function () {
    this.timeout(60_000);
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: 'e2e-run',
      yes: true,
    });
    assert.equal(typeof podId, 'string', 'a pod to run on');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 15_000, 'the pod to be ready in the model');
  });

  after(async function () {
    this.timeout(30_000);
    if (podId) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  const trainPy = (): vscode.Uri => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the sample project is open');
    return vscode.Uri.joinPath(folder.uri, 'train.py');
  };

  it('runs the active file: the folder is synced, the job starts, its log reaches the terminal with the footer', async function () {
    this.timeout(60_000);
    const doc = await vscode.workspace.openTextDocument(trainPy());
    await vscode.window.showTextDocument(doc);
    const t0 = Date.now();
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', {
      podId,
      args: ['--epochs', '2', '--steps', '40', '--lr', '0.3', '--delay', '0'],
    });
    assert.ok(run, 'the command resolves with the run');
    assert.ok(
      vscode.window.terminals.some((t) => t.name === run.terminalName),
      `a terminal named ${run.terminalName}`,
    );
    assert.match(run.terminalName, /^kgpu: train\.py --epochs 2/);
    const end = await run.done;
    assert.deepEqual(end, { state: 'exited', exitCode: 0 });
    const text = run.text();
    assert.match(text, /kgpu job /);
    assert.match(text, /rtx3090 × 1/);
    assert.match(text, /training y = 3x \+ 2/);
    assert.match(text, /epoch 2\/2 loss/);
    assert.match(text, /■ exit code 0 · \d+\.\d s · [\d.]+ credits \(\$[\d.]+\)/);
    assert.ok(!/[^\r]\n/.test(text), 'every line break is \\r\\n in the terminal');
    // The checkpoint the script wrote is in the pod, in the synced folder.
    const exec = await simApi<{ stdout: string; exit_code: number }>(sim(), `/pods/${podId}/exec`, {
      method: 'POST',
      body: JSON.stringify({ cmd: ['sh', '-c', 'ls /workspace/*/checkpoints/model.json'] }),
    });
    assert.equal(exec.exit_code, 0, exec.stdout);
    console.log(`    run → job done in ${Date.now() - t0} ms`);

    // The job is a row under its rental.
    const pod = services.pods.get(podId!)!;
    const rows = services.rentalChildren.childrenOf(pod) as { kind: string; jobId: string }[];
    const row = rows.find((r) => r.jobId === run.jobId);
    assert.ok(row, 'a job row under the rental');
    const item = services.rentalChildren.treeItemOf(row)!;
    assert.equal(item.contextValue, 'job.exited');
    assert.equal(item.label, 'train.py');
    assert.equal(item.description, 'exited with code 0 · --epochs 2 --steps 40 --lr 0.3 --delay 0');
  });

  it('Stop ends a running job (whole process group) and the row says so', async function () {
    this.timeout(60_000);
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', {
      podId,
      file: trainPy(),
      args: ['--epochs', '100', '--steps', '10', '--delay', '0.2'],
    });
    assert.ok(run);
    await waitUntil(() => /epoch 1\/100/.test(run.text()), 20_000, 'the first progress line');
    const status = await vscode.commands.executeCommand<{ state: string; stoppedByUser?: boolean }>('kgpu.stopJob', {
      podId,
      jobId: run.jobId,
      yes: true,
      graceMs: 1000,
    });
    assert.equal(status?.state, 'killed');
    assert.equal(status?.stoppedByUser, true);
    assert.equal((await run.done).state, 'killed');
    assert.match(run.text(), /■ stopped \(SIGTERM\)/);
    const pod = services.pods.get(podId!)!;
    const row = (services.rentalChildren.childrenOf(pod) as { jobId: string }[]).find((r) => r.jobId === run.jobId)!;
    assert.equal(services.rentalChildren.treeItemOf(row)!.contextValue, 'job.killed');
  });

  it('a warm re-run after a one-line edit runs the edited file each time (time to the first log byte is printed; its goal lives in npm run bench)', async function () {
    this.timeout(60_000);
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const file = vscode.Uri.joinPath(folder, 'warm.py');
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      await vscode.workspace.fs.writeFile(file, Buffer.from(`print("warm ${i}", flush=True)\n`));
      const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, noPrompt: true });
      assert.ok(run);
      const ms = await run.firstByteMs;
      assert.ok(ms !== undefined);
      times.push(ms);
      await run.done;
      assert.match(run.text(), new RegExp(`warm ${i}\\r\\n`));
    }
    await vscode.workspace.fs.delete(file);
    // A wall-clock bound here failed on a loaded CI machine (1.5–1.8 s at load average 10): the
    // iteration goal is measured by `npm run bench` against OpenSSH in the same run, not asserted here.
    console.log(
      `    Run Active File → first log byte in the panel (warm pod, one-file edit): ${times.map((t) => t.toFixed(0)).join(', ')} ms`,
    );
  });

  it('Show Job Log reopens a log from the start', async function () {
    this.timeout(30_000);
    const pod = services.pods.get(podId!)!;
    const row = (services.rentalChildren.childrenOf(pod) as { jobId: string }[])[0];
    const before = vscode.window.terminals.length;
    const name = await vscode.commands.executeCommand<string | undefined>('kgpu.showJobLog', { podId, jobId: row.jobId, from: 'start' });
    assert.ok(name);
    await waitUntil(() => vscode.window.terminals.some((t) => t.name === name), 5_000, 'the log panel');
    assert.ok(vscode.window.terminals.length >= before);
  });

  it('Open Terminal opens a terminal on the pod', async function () {
    this.timeout(30_000);
    const opened = new Promise<vscode.Terminal>((resolve) => {
      const d = vscode.window.onDidOpenTerminal((t) => {
        if (t.name.startsWith('kgpu: e2e-run')) {
          d.dispose();
          resolve(t);
        }
      });
    });
    const name = await vscode.commands.executeCommand<string | undefined>('kgpu.openTerminal', podId);
    assert.equal(name, 'kgpu: e2e-run');
    const terminal = await opened;
    terminal.dispose();
  });

  it('Run Command… runs a one-shot exec and reports its output and exit code', async function () {
    this.timeout(30_000);
    const outcome = await vscode.commands.executeCommand<ExecOutcome | undefined>('kgpu.exec', {
      podId,
      command: `sh -c 'echo hello; exit 2'`,
    });
    assert.ok(outcome);
    assert.equal(outcome.response.stdout, 'hello\n');
    assert.equal(outcome.response.exit_code, 2);
    assert.match(outcome.summary, /^exit code 2 in/);
    const refused = await vscode.commands.executeCommand('kgpu.exec', { podId, command: 'ls | wc -l' });
    assert.equal(refused, undefined, 'a pipe is refused before sending');
  });
});

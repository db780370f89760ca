// The project's dependencies, installed once (issue 22), through the real VS Code API: the sample
// project's with-deps/plot_metrics.py needs requirements.txt's packages (from the simulator's
// package index): the first run installs them into an environment in the pod with pip's output in
// the log panel, and plots; the second reuses it.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import type { RunStarted } from '../../../src/jobs/run-command';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator, simApi } from './helpers/simulator';

describe("run on GPU: the project's dependencies", () => {
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
      name: 'e2e-deps',
      yes: true,
    });
    assert.equal(typeof podId, 'string', 'a pod to run on');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 15_000, 'the pod to be ready in the model');
  });

  after(async function () {
    this.timeout(30_000);
    if (podId) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  it('with-deps/requirements.txt is installed once into an environment in the pod (pip in the log panel) and the script runs with it; the next run reuses it', async function () {
    this.timeout(180_000);
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const metrics = vscode.Uri.joinPath(folder, 'with-deps', 'metrics-e2e.jsonl');
    await vscode.workspace.fs.writeFile(
      metrics,
      Buffer.from([5, 4, 3, 2.5, 2, 1.8].map((loss, step) => JSON.stringify({ step, loss })).join('\n') + '\n'),
    );
    const file = vscode.Uri.joinPath(folder, 'with-deps', 'plot_metrics.py');
    const args = ['with-deps/metrics-e2e.jsonl', '--smooth', '2'];
    const first = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, args });
    assert.ok(first);
    assert.deepEqual(await first.done, { state: 'exited', exitCode: 0 }, first.text());
    const t1 = first.text();
    assert.match(t1, /Successfully installed kgpu-demo-utils-1\.1\.0 tinyplot-0\.1/, 'pip output in the panel');
    assert.match(t1, /\[kgpu\] installed requirements\.txt in \/workspace\/\.kgpu\/venvs\/with-deps-[0-9a-f]{16}/);
    assert.match(t1, /loss over 6 steps: /);

    const second = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, args });
    assert.ok(second);
    assert.deepEqual(await second.done, { state: 'exited', exitCode: 0 }, second.text());
    const t2 = second.text();
    assert.match(t2, /\[kgpu\] using requirements\.txt in \/workspace\/\.kgpu\/venvs\/with-deps-[0-9a-f]{16} \(unchanged\)/);
    assert.doesNotMatch(t2, /Successfully installed/);
    assert.match(t2, /loss over 6 steps: /);
    await vscode.workspace.fs.delete(metrics);
  });

  it('Run on a file that lives only in the pod (kgpu://): the requirements.txt of its project folder in the pod are installed and used; a changed one makes a new environment', async function () {
    this.timeout(180_000);
    const probe = 'import sys, kgpu_demo_utils\nprint("prefix", sys.prefix)\nprint("utils", kgpu_demo_utils.__version__)\n';
    const exec = async (script: string, ...args: string[]): Promise<void> => {
      const r = await simApi<{ exit_code: number; stderr: string }>(sim(), `/pods/${podId}/exec`, {
        method: 'POST',
        body: JSON.stringify({ cmd: ['sh', '-c', script, 'sh', ...args] }),
      });
      assert.equal(r.exit_code, 0, r.stderr);
    };
    await exec(
      'mkdir -p /workspace/pod-only/src && printf "kgpu-demo-utils==1.0.0\\n" > /workspace/pod-only/requirements.txt && printf "%s" "$1" > /workspace/pod-only/src/probe.py',
      probe,
    );
    const file = vscode.Uri.from({ scheme: 'kgpu', authority: podId!, path: '/workspace/pod-only/src/probe.py' });
    const first = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, args: [] });
    assert.ok(first);
    assert.deepEqual(await first.done, { state: 'exited', exitCode: 0 }, first.text());
    assert.match(first.text(), /^utils 1\.0\.0$/m);
    const prefix1 = /^prefix (\/workspace\/\.kgpu\/venvs\/pod-only-[0-9a-f]{16})$/m.exec(first.text())?.[1];
    assert.ok(prefix1, `the run used the project's environment:\n${first.text()}`);

    await exec('printf "kgpu-demo-utils==1.1.0\\n" > /workspace/pod-only/requirements.txt');
    const second = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, args: [] });
    assert.ok(second);
    assert.deepEqual(await second.done, { state: 'exited', exitCode: 0 }, second.text());
    assert.match(second.text(), /^utils 1\.1\.0$/m);
    const prefix2 = /^prefix (\/workspace\/\.kgpu\/venvs\/pod-only-[0-9a-f]{16})$/m.exec(second.text())?.[1];
    assert.ok(prefix2 && prefix2 !== prefix1, `a new environment for the changed requirements.txt:\n${second.text()}`);
  });

  it('kgpu.installDependencies off: the run uses kgpu.python as it is (no environment made or used)', async function () {
    this.timeout(120_000);
    const config = vscode.workspace.getConfiguration('kgpu');
    const file = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'with-deps', 'prefix-e2e.py');
    await vscode.workspace.fs.writeFile(file, Buffer.from('import sys\nprint("prefix", sys.prefix)\n'));
    await config.update('installDependencies', 'off', vscode.ConfigurationTarget.Global);
    try {
      assert.equal(services.settings.get().installDependencies, 'off');
      const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, args: [] });
      assert.ok(run);
      assert.deepEqual(await run.done, { state: 'exited', exitCode: 0 }, run.text());
      const t = run.text();
      assert.match(t, /^prefix \//m);
      assert.doesNotMatch(t, /\.kgpu\/venvs\//, 'no environment');
    } finally {
      await config.update('installDependencies', undefined, vscode.ConfigurationTarget.Global);
      await vscode.workspace.fs.delete(file);
    }
  });
});

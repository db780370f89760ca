// Issue 24 in a real VS Code against the simulator: Run while the only rental is still starting
// waits for it and runs; a `kgpu` task from tasks.json runs in the pod and its exit code is the task's.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import type { RunStarted } from '../../../src/jobs/run-command';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator, simApi } from './helpers/simulator';

describe('ecosystem: run when ready, kgpu tasks', () => {
  const sim = needsSimulator();
  let services: KgpuServices;
  let podId: string | undefined;
  const NAME = 'e2e-eco';

  before(async function () {
    this.timeout(60_000);
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
  });

  after(async function () {
    this.timeout(30_000);
    if (podId) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  const folder = (): vscode.WorkspaceFolder => {
    const f = vscode.workspace.workspaceFolders?.[0];
    assert.ok(f, 'the sample project is open');
    return f;
  };

  it('Run on a rental that is still starting waits for it (progress notification), then runs', async function () {
    this.timeout(180_000);
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: NAME,
      yes: true,
      wait: false,
    });
    assert.equal(typeof podId, 'string', 'rented');
    // The simulator starts a pod in well under a second here, so the model saw it ready already; put
    // it back to what the model holds while a rental starts (the state the user pressed Run in).
    const pod = services.pods.get(podId!);
    assert.ok(pod, 'the rental is in the model');
    services.pods.upsert({ ...pod, phase: 'Pending', ready: false, pending_reason: 'starting' });
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', {
      podId,
      file: vscode.Uri.joinPath(folder().uri, 'train.py'),
      args: ['--epochs', '1', '--steps', '5', '--delay', '0'],
    });
    assert.ok(run, 'the run started once the pod was ready (not "not ready")');
    assert.equal(services.pods.get(podId!)?.ready, true);
    assert.deepEqual(await run.done, { state: 'exited', exitCode: 0 });
  });

  it("a kgpu task from tasks.json runs in the pod folder, by pod name; its exit code is the task's", async function () {
    this.timeout(60_000);
    assert.ok(podId, 'the pod from the previous test');
    const tasksJson = vscode.Uri.joinPath(folder().uri, '.vscode', 'tasks.json');
    const task = {
      version: '2.0.0',
      tasks: [
        { label: 'e2e pod task', type: 'kgpu', command: 'pwd > /workspace/task-pwd.txt; echo ran; exit 3', pod: NAME, problemMatcher: [] },
      ],
    };
    await vscode.workspace.fs.writeFile(tasksJson, Buffer.from(JSON.stringify(task, null, 2)));
    try {
      let found: vscode.Task | undefined;
      await waitUntil(
        async () => (found = (await vscode.tasks.fetchTasks({ type: 'kgpu' })).find((t) => t.name === 'e2e pod task')) !== undefined,
        20_000,
        'the task from tasks.json',
      );
      const ended = new Promise<number | undefined>((resolve) => {
        const sub = vscode.tasks.onDidEndTaskProcess((e) => {
          if (e.execution.task.name !== 'e2e pod task') return;
          sub.dispose();
          resolve(e.exitCode);
        });
      });
      await vscode.tasks.executeTask(found!);
      assert.equal(await ended, 3);
      const r = await simApi<{ stdout: string; exit_code: number }>(sim(), `/pods/${podId}/exec`, {
        method: 'POST',
        body: JSON.stringify({ cmd: ['cat', '/workspace/task-pwd.txt'] }),
      });
      assert.equal(r.exit_code, 0);
      assert.match(r.stdout, /^\/workspace\/[^/\n]+\n$/, 'ran in /workspace/<the folder>');
    } finally {
      await vscode.workspace.fs.delete(tasksJson);
    }
  });
});

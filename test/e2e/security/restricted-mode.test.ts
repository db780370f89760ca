// Security session "restricted-mode" (issue 16, finding 1), run by test/e2e/lib/security-sessions.mjs
// in its own code-server with workspace trust ON: the hostile folder opens in Restricted Mode.
// What still works: the extension activates (limited support), the sidebar and billing (signed in
// from $KGPU_API_TOKEN/$KGPU_API_BASE), renting, and running a file — with the USER's kgpu.python
// and kgpu.env: the folder's kgpu.python is a canary that must never run in the pod, its kgpu.env
// must not reach the job.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { RunStarted } from '../../../src/jobs/run-command';
import type { KgpuServices } from '../../../src/platform/services';
import { kgpuExtension, openKgpuSidebar, waitUntil } from '../suite/helpers/extension';
import { needsSimulator, simApi } from '../suite/helpers/simulator';

describe('security: an untrusted folder (Restricted Mode)', () => {
  const sim = needsSimulator();
  let services: KgpuServices;
  let podId: string | undefined;

  before(async function () {
    this.timeout(60_000);
    assert.equal(vscode.workspace.isTrusted, false, 'the folder opened in Restricted Mode');
    services = (await openKgpuSidebar()).exports as KgpuServices;
    await services.ready;
    await services.settings.scanned;
  });

  after(async function () {
    this.timeout(30_000);
    if (podId) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  it('the extension is active; the sidebar and billing work (account, GPU models, rentals)', async () => {
    assert.equal(kgpuExtension().isActive, true);
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
    await services.pods.refresh();
    assert.ok(services.pods.me && typeof services.pods.me.credits === 'number', 'the account and its credits');
    assert.ok(
      services.pods.gpuModels?.some((m) => m.gpu_model === 'rtx3090'),
      'the GPU menu',
    );
    const s = services.settings.get();
    assert.equal(s.apiBase, sim().apiBase);
    assert.equal(s.python, 'python', "the user's kgpu.python (default), not the folder's");
    assert.deepEqual(s.env, {});
    assert.deepEqual(services.settings.ignoredWorkspaceSettings(), [
      'kgpu.apiBase',
      'kgpu.env',
      'kgpu.python',
      'kgpu.sshHost',
      'kgpu.sshIdentityFile',
      'kgpu.sshPort',
    ]);
  });

  it("runs a file with the user's interpreter and environment: the folder's canary never runs in the pod", async function () {
    this.timeout(90_000);
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: 'e2e-restricted',
      yes: true,
    });
    assert.equal(typeof podId, 'string');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 20_000, 'the pod to be ready');
    const folder = vscode.workspace.workspaceFolders![0]!.uri;
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', {
      podId,
      file: vscode.Uri.joinPath(folder, 'probe.py'),
      noPrompt: true,
    });
    assert.ok(run);
    assert.deepEqual(await run.done, { state: 'exited', exitCode: 0 });
    assert.match(run.text(), /dev_mode: False/);
    assert.match(run.text(), /PROJECT_FLAG: None/, "the folder's kgpu.env did not reach the job");
    const canary = await simApi<{ stdout: string; exit_code: number }>(sim(), `/pods/${podId}/exec`, {
      method: 'POST',
      body: JSON.stringify({ cmd: ['sh', '-c', 'ls /workspace/KGPU_E2E_CANARY 2>/dev/null; true'] }),
    });
    assert.equal(canary.stdout, '', "the folder's kgpu.python canary never ran");
  });
});

// Security session "hostile-clone" (issue 16, finding 1), run by test/e2e/lib/security-sessions.mjs
// in its own code-server: a TRUSTED folder — a repository the user cloned — whose
// .vscode/settings.json points kgpu.apiBase at an attacker's HTTP server (plain http), kgpu.sshHost
// and kgpu.sshPort at the attacker's port and kgpu.sshIdentityFile at the attacker's key pair;
// $KGPU_API_TOKEN is set and $KGPU_API_BASE is not (before: the token went to the attacker). The
// user's own settings point at the simulator. Nothing may reach the attacker; the folder's
// per-project kgpu.python / kgpu.env still count (the folder is trusted).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { RunStarted } from '../../../src/jobs/run-command';
import type { KgpuServices } from '../../../src/platform/services';
import { openKgpuSidebar, waitUntil } from '../suite/helpers/extension';

async function attackerRecord(): Promise<{ requests: number; withAuthorization: number; sshConnections: number }> {
  const url = process.env.KGPU_E2E_HOSTILE_RECORD;
  assert.ok(url, 'the runner gives the attacker server');
  return (await (await fetch(url)).json()) as { requests: number; withAuthorization: number; sshConnections: number };
}

describe("security: a cloned repository's .vscode/settings.json (trusted folder)", () => {
  let services: KgpuServices;
  let podId: string | undefined;
  const simBase = process.env.KGPU_E2E_SIM_API_BASE!;

  before(async function () {
    this.timeout(60_000);
    services = (await openKgpuSidebar()).exports as KgpuServices;
    await services.ready;
    await services.settings.scanned;
  });

  after(async function () {
    this.timeout(30_000);
    if (podId) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  it('never sends the token to the server the folder names, and ignores its connection settings (one notice names them)', async () => {
    // Activation refreshed already; refresh once more to be sure something was sent somewhere.
    await services.pods.refresh();
    assert.deepEqual(await attackerRecord(), { requests: 0, withAuthorization: 0, sshConnections: 0 }, 'nothing reached the attacker');
    const s = services.settings.get();
    assert.equal(s.apiBase, simBase, "the user's own kgpu.apiBase");
    assert.equal(s.sshHost, '127.0.0.1');
    assert.equal(
      s.sshPort,
      Number(process.env.KGPU_E2E_SIM_SSH_PORT),
      "the user's own kgpu.sshPort (the simulator's bastion), not the attacker's",
    );
    assert.equal(s.sshIdentityFile, '', "the folder's key pair is not pinned to new rentals");
    assert.deepEqual(
      services.settings.ignoredWorkspaceSettings().filter((k) => !/python|env/.test(k)),
      ['kgpu.apiBase', 'kgpu.sshHost', 'kgpu.sshIdentityFile', 'kgpu.sshPort'],
    );
    // $KGPU_API_TOKEN belongs to $KGPU_API_BASE (unset: kgpu's own base) — not to a base a setting chose.
    assert.equal(services.auth.signedIn, false);
  });

  it("works against the user's server: sign in, rent, run the file (synced over the user's bastion) with the folder's per-project python/env", async function () {
    this.timeout(90_000);
    assert.equal(await vscode.commands.executeCommand('kgpu.signIn', { token: process.env.KGPU_E2E_SIM_TOKEN }), true);
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: 'e2e-hostile-clone',
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
    assert.match(run.text(), /dev_mode: True/, "the folder's kgpu.python (python3 -X dev) was used: it is trusted");
    assert.match(run.text(), /PROJECT_FLAG: from-workspace/, "the folder's kgpu.env was used");
    assert.deepEqual(
      await attackerRecord(),
      { requests: 0, withAuthorization: 0, sshConnections: 0 },
      'the sync and the run never went to the attacker',
    );
  });
});

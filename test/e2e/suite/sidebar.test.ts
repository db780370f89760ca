// Sign-in, the rentals model behind the views, rent → ready → copy → release → clear, through the
// real VS Code API (commands with option objects, as the README's scripts call them).
import * as assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import { rentalItem } from '../../../src/kgpu/model/rentals-view-model';
import { gpuModelItem } from '../../../src/kgpu/model/gpu-models-view-model';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator, simApi } from './helpers/simulator';

interface SimPod {
  pod_id: string;
  phase: string;
  ready: boolean;
  end_reason: string | null;
}

describe('sidebar: sign-in, rent, release', () => {
  const sim = needsSimulator();
  let services: KgpuServices;

  before(async () => {
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
  });

  it('is signed in from $KGPU_API_TOKEN and shows the public GPU menu', async () => {
    await waitUntil(
      () => services.auth.signedIn && services.pods.gpuModels !== undefined && services.pods.me !== undefined,
      10_000,
      'the first refresh',
    );
    assert.equal(services.auth.source, 'environment');
    assert.equal(services.settings.get().apiBase, sim().apiBase);
    const rows = services.pods.gpuModels!.map(gpuModelItem);
    assert.ok(
      rows.some((r) => r.label === 'rtx3090' && /free · \$0\.40\/h · 600 credits\/h$/.test(r.description ?? '')),
      JSON.stringify(rows.map((r) => r.description)),
    );
  });

  it('rents an rtx3090, waits until ready, copies its id and ssh command, releases it and clears it', async function () {
    this.timeout(90_000);
    const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: 'e2e-sidebar',
      yes: true,
    });
    assert.equal(typeof podId, 'string', 'kgpu.rent resolves with the pod id');
    const onServer = await simApi<SimPod>(sim(), `/pods/${podId}`);
    assert.equal(onServer.ready, true);
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 10_000, 'the model to see the pod ready');
    const row = rentalItem(services.pods.get(podId!)!, Date.now());
    assert.equal(row.contextValue, 'rental.ready');
    assert.equal(row.label, 'e2e-sidebar');

    const firstKey = await services.podKeys.mintedKey(podId!);
    assert.ok(firstKey, 'the minted key is in secret storage');
    const before = (await simApi<SimPod & { ssh_fingerprint: string }>(sim(), `/pods/${podId}`)).ssh_fingerprint;
    assert.equal(await vscode.commands.executeCommand('kgpu.rotateSshKey', { podId, yes: true }), true);
    const after = (await simApi<SimPod & { ssh_fingerprint: string }>(sim(), `/pods/${podId}`)).ssh_fingerprint;
    assert.notEqual(after, before, 'the server pinned a new key');
    const secondKey = await services.podKeys.mintedKey(podId!);
    assert.ok(secondKey && secondKey !== firstKey, 'the new private key replaced the old one');

    assert.equal(await vscode.commands.executeCommand('kgpu.copyPodId', podId), podId);
    assert.equal(await vscode.env.clipboard.readText(), podId);
    const ssh = await vscode.commands.executeCommand<string>('kgpu.copySshCommand', podId);
    assert.match(ssh, /^ssh -p \d+ -i \S+ -o IdentitiesOnly=yes kgpu@/, 'the minted key is offered with -i');

    assert.equal(await vscode.commands.executeCommand('kgpu.release', { podId, yes: true }), true);
    const released = await simApi<SimPod>(sim(), `/pods/${podId}`);
    assert.equal(released.end_reason, 'returned');
    const ended = services.pods.get(podId!)!;
    assert.match(rentalItem(ended, Date.now()).description ?? '', /Released by you/);
    assert.equal(await services.podKeys.hasMintedKey(podId!), false, 'the minted key is forgotten');

    await vscode.commands.executeCommand('kgpu.clearEnded');
    assert.equal(
      services.pods.pods.some((p) => p.pod_id === podId),
      false,
    );
  });

  it('one connector per pod (minted key, replaced on rotation); "Download results first" pulls /workspace, then the release closes it', async function () {
    this.timeout(90_000);
    if (!sim().sshPort) this.skip(); // a simulator without its bastion
    const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'v100',
      gpu_count: 1,
      name: 'e2e-connect',
      yes: true,
    });
    assert.ok(podId);
    const resets: { podId: string; reason: string }[] = [];
    const sub = services.connections.onDidReset((e) => resets.push(e));
    const dir = await mkdtemp(join(tmpdir(), 'kgpu-e2e-download-'));
    try {
      const first = await services.connections.get(podId);
      assert.equal(await services.connections.get(podId), first, 'the same connector for the same pod');
      (await first.connect()).close();

      assert.equal(await vscode.commands.executeCommand('kgpu.rotateSshKey', { podId, yes: true }), true);
      assert.ok(
        resets.some((r) => r.podId === podId && r.reason === 'key'),
        JSON.stringify(resets),
      );
      const second = await services.connections.get(podId);
      assert.notEqual(second, first, 'a new connector with the new key');
      (await second.connect()).close();
      await assert.rejects(first.connect(), 'the old connector is disposed');

      const exec = await simApi<{ exit_code: number }>(sim(), `/pods/${podId}/exec`, {
        method: 'POST',
        body: JSON.stringify({ cmd: ['sh', '-c', 'mkdir -p /workspace/out && printf "loss 0.1\\n" > /workspace/out/metrics.txt'] }),
      });
      assert.equal(exec.exit_code, 0);
      assert.equal(await vscode.commands.executeCommand('kgpu.release', { podId, yes: true, downloadTo: dir }), true);
      assert.equal(await readFile(join(dir, 'out', 'metrics.txt'), 'utf8'), 'loss 0.1\n');
      assert.equal((await simApi<SimPod>(sim(), `/pods/${podId}`)).end_reason, 'returned');
      assert.ok(
        resets.some((r) => r.podId === podId && r.reason === 'ended'),
        JSON.stringify(resets),
      );
      await assert.rejects(services.connections.get(podId), /has ended/);
    } finally {
      sub.dispose();
      await rm(dir, { recursive: true, force: true });
      await vscode.commands.executeCommand('kgpu.clearEnded');
    }
  });

  it('refuses a rent the contract forbids with the reason, before calling the server', async () => {
    const before = (await simApi<SimPod[]>(sim(), '/pods')).length;
    const podId = await vscode.commands.executeCommand('kgpu.rent', { gpu_model: 'rtx3090', gpu_count: 1, memory: '512Gi', yes: true });
    assert.equal(podId, undefined);
    assert.equal((await simApi<SimPod[]>(sim(), '/pods')).length, before);
  });

  it('a 401 at any time (token reissued) signs out once; signing in again recovers', async function () {
    this.timeout(30_000);
    // A stored token the server no longer accepts, as after "Reissue" on the dashboard.
    await services.auth.signIn('kgpu_reissuedelsewhere');
    await services.pods.refresh();
    await waitUntil(() => !services.auth.signedIn, 10_000, 'the 401 to sign out');
    assert.equal(services.auth.state.rejected, true);
    assert.equal(services.pods.pods.length, 0, 'the rentals view is back to its welcome state');
    assert.ok(services.pods.gpuModels, 'the public menu still works');
    await services.pods.refresh();
    assert.equal(services.auth.signedIn, false, 'no retry storm, still signed out');
    assert.equal(await vscode.commands.executeCommand('kgpu.signIn', { token: sim().token }), true);
    await waitUntil(() => services.pods.me !== undefined, 10_000, '/me after signing in again');
  });

  it('a malformed kgpu.apiBase falls back to the default with a warning; fixing it reconnects', async function () {
    this.timeout(30_000);
    const config = vscode.workspace.getConfiguration('kgpu');
    try {
      await config.update('apiBase', 'htp:/broken', vscode.ConfigurationTarget.Global);
      await waitUntil(() => services.settings.get().apiBase === 'https://api.kgpu.net/v1', 5_000, 'the fallback');
      assert.equal(services.auth.signedIn, false, 'the simulator token is not sent to another deployment');
    } finally {
      await config.update('apiBase', undefined, vscode.ConfigurationTarget.Global);
    }
    await waitUntil(() => services.settings.get().apiBase === sim().apiBase && services.auth.signedIn, 5_000, 'the simulator again');
    await waitUntil(() => services.pods.me !== undefined && !services.pods.lastError, 15_000, 'a clean refresh');
  });

  it('Connect to a Simulator… writes the settings and signs in', async function () {
    this.timeout(30_000);
    const config = vscode.workspace.getConfiguration('kgpu');
    try {
      const ok = await vscode.commands.executeCommand('kgpu.trySimulator', {
        apiBase: sim().apiBase,
        sshHost: '127.0.0.1',
        sshPort: 40222,
        token: sim().token,
      });
      assert.equal(ok, true);
      assert.equal(config.inspect('apiBase')?.globalValue, sim().apiBase);
      assert.equal(services.settings.get().sshPort, 40222);
      assert.equal(services.auth.source, 'stored');
      assert.equal(
        await vscode.commands.executeCommand('kgpu.trySimulator', { apiBase: 'http://127.0.0.1:1/v1', token: sim().token }),
        false,
        'an unreachable simulator changes nothing',
      );
      assert.equal(config.inspect('apiBase')?.globalValue, sim().apiBase);
    } finally {
      for (const k of ['apiBase', 'sshHost', 'sshPort']) await config.update(k, undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('a wrong token is refused without signing out; sign-out and sign-in with the right token work', async function () {
    this.timeout(30_000);
    assert.equal(await vscode.commands.executeCommand('kgpu.signIn', { token: 'kgpu_notthetoken' }), false);
    assert.equal(services.auth.signedIn, true);
    await vscode.commands.executeCommand('kgpu.signOut');
    assert.equal(services.auth.signedIn, false, '$KGPU_API_TOKEN is ignored after Sign Out');
    await waitUntil(() => services.pods.pods.length === 0, 5_000, 'the rentals to be cleared');
    assert.equal(await vscode.commands.executeCommand('kgpu.signIn', { token: sim().token }), true);
    assert.equal(services.auth.signedIn, true);
    assert.equal(services.auth.source, 'stored');
    await waitUntil(() => services.pods.me !== undefined, 10_000, '/me after signing in');
  });
});

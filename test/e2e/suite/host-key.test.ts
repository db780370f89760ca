// kgpu: Forget Bastion Host Key… in the real editor (security finding 5): with a pin that no longer
// matches the simulator's bastion (as after kgpu reinstalled it), the command reads the key the
// bastion presents now and pins exactly that one; nothing else in the pin file changes.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import { openKgpuSidebar } from './helpers/extension';
import { needsSimulator } from './helpers/simulator';

describe('security: a changed bastion host key', () => {
  const sim = needsSimulator();
  let services: KgpuServices;
  before(async () => {
    services = (await openKgpuSidebar()).exports as KgpuServices;
  });

  it('kgpu.forgetHostKey replaces a stale pin with the key the bastion presents now', async () => {
    const hostPort = `${sim().sshHost}:${sim().sshPort}`;
    const store = services.hostKeys;
    const before = await store.get(hostPort);
    await store.set('unrelated.example:22', 'SHA256:unrelated');
    await store.set(hostPort, 'SHA256:stale-pin-from-an-old-bastion');
    try {
      const pinned = await vscode.commands.executeCommand<string | undefined>('kgpu.forgetHostKey', { hostPort, yes: true });
      assert.match(pinned ?? '', /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.equal(await store.get(hostPort), pinned);
      if (before) assert.equal(pinned, before, 'the bastion did not change: the same key as pinned before the test');
      assert.equal(await store.get('unrelated.example:22'), 'SHA256:unrelated');
      // Asking again with the pin matching: nothing to forget, the pin stays.
      assert.equal(await vscode.commands.executeCommand('kgpu.forgetHostKey', { hostPort, yes: true }), pinned);
    } finally {
      await store.delete('unrelated.example:22');
      if (before) await store.set(hostPort, before);
    }
  });
});

// The extension as a user gets it: it activates when its view opens, registers every command it
// contributes, and its settings exist with the documented defaults.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { kgpuExtension, openKgpuSidebar } from './helpers/extension';

interface Manifest {
  contributes: {
    commands: { command: string }[];
    configuration: { properties: Record<string, { default?: unknown }> };
  };
}

describe('activation', () => {
  it('loads the extension under test from the development path', () => {
    const ext = kgpuExtension();
    if (process.env.KGPU_E2E_DEV_PATH) assert.equal(ext.extensionUri.path, process.env.KGPU_E2E_DEV_PATH);
    assert.equal((ext.packageJSON as { main: string }).main, './dist/extension.js');
  });

  it('activates when the kgpu view container is opened', async () => {
    const ext = await openKgpuSidebar();
    assert.equal(ext.isActive, true);
  });

  it('contributes the Account, GPU Models and Rentals views', async () => {
    await openKgpuSidebar();
    // `<view id>.focus` exists only for a registered view, and focusing it fails for an unknown one.
    for (const view of ['kgpu.account', 'kgpu.gpuModels', 'kgpu.rentals']) {
      await vscode.commands.executeCommand(`${view}.focus`);
    }
  });

  it('registers every command declared in contributes.commands', async () => {
    await openKgpuSidebar();
    const declared = (kgpuExtension().packageJSON as Manifest).contributes.commands.map((c) => c.command);
    assert.ok(declared.length >= 14, `expected the full command set, got ${declared.length}`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `declared but not registered: ${missing.join(', ')}`);
  });

  it('contributes the kgpu.* settings with their documented defaults', () => {
    const config = vscode.workspace.getConfiguration('kgpu');
    // The contract's values, spelled out so a changed default is noticed…
    assert.equal(config.inspect('apiBase')?.defaultValue, 'https://api.kgpu.net/v1');
    assert.equal(config.inspect('sshHost')?.defaultValue, 'ssh.kgpu.net');
    assert.equal(config.inspect('sshPort')?.defaultValue, 2222);
    assert.equal(config.inspect('pollIntervalSeconds')?.defaultValue, 10);
    assert.equal(config.inspect('python')?.defaultValue, 'python');
    assert.equal(config.inspect('sshIdentityFile')?.defaultValue, '');
    // …and every declared setting is known to VS Code with the manifest's default.
    const properties = (kgpuExtension().packageJSON as Manifest).contributes.configuration.properties;
    for (const [key, schema] of Object.entries(properties)) {
      const inspected = vscode.workspace.getConfiguration().inspect(key);
      assert.ok(inspected, `setting ${key} is not registered`);
      assert.deepEqual(inspected.defaultValue, schema.default, `default of ${key}`);
    }
  });
});

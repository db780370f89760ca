// Reliability and security where the behaviour lives in the editor layer (issue 12): temp key files
// for external tools, kgpu.sshIdentityFile input (missing, public-key-only, passphrase-protected:
// it asks), out-of-range / non-number settings, and — last in the run (files load in name order,
// hence the z- prefix) — no account token or private key in the extension's logs, output channels
// or storage after everything the other suite files did.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import { PodKeys } from '../../../src/platform/pod-keys';
import type { KgpuServices } from '../../../src/platform/services';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { simulatorEnv } from './helpers/simulator';

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('reliability: keys, settings and logs in the editor', () => {
  let services: KgpuServices;
  let tmp: string;
  before(async () => {
    services = (await openKgpuSidebar()).exports as KgpuServices;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kgpu-e2e-rel-'));
  });
  after(async () => {
    const c = vscode.workspace.getConfiguration('kgpu');
    for (const k of ['sshIdentityFile', 'sshPort', 'pollIntervalSeconds']) await c.update(k, undefined, vscode.ConfigurationTarget.Global);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a temp key file for an external tool is 0600 in a private folder, removed on forget and on dispose', async () => {
    const keys = new PodKeys(services.context.secrets, services.context.globalState, services.settings);
    const podId = `gpu-rent-e2e-rel-${process.pid}`;
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nthrowaway-not-a-key\n-----END OPENSSH PRIVATE KEY-----\n';
    try {
      await keys.storeMinted(podId, key);
      const file = await keys.writeTempKeyFile(podId);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(path.dirname(file)).mode & 0o077, 0, 'the folder is private too');
      assert.equal(readFileSync(file, 'utf8'), key);
      await keys.forget(podId);
      assert.ok(!existsSync(file), 'removed when the pod is forgotten (released / ended)');
      await keys.storeMinted(podId, key);
      const again = await keys.writeTempKeyFile(podId);
      keys.dispose();
      assert.ok(!existsSync(again) && !existsSync(path.dirname(again)), 'removed on dispose (deactivate)');
    } finally {
      await keys.forget(podId).catch(() => undefined);
    }
  });

  it('kgpu.sshIdentityFile: a missing file and a public-key-only file are refused clearly; a passphrase-protected key asks for the passphrase', async function () {
    this.timeout(30_000);
    const c = vscode.workspace.getConfiguration('kgpu');
    const podId = 'gpu-rent-e2e-no-minted-key';
    const missing = path.join(tmp, 'nope', 'id_ed25519');
    await c.update('sshIdentityFile', missing, vscode.ConfigurationTarget.Global);
    await assert.rejects(
      services.podKeys.identityPublicKey(),
      /Cannot read the public key .*id_ed25519\.pub for kgpu\.sshIdentityFile .*ssh-keygen -y/,
    );
    await assert.rejects(
      services.podKeys.sshTarget(podId),
      /Cannot read kgpu\.sshIdentityFile .*id_ed25519 \(ENOENT\)\. Fix the setting or clear it/,
    );

    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e', '-f', path.join(tmp, 'plain')]);
    await c.update('sshIdentityFile', path.join(tmp, 'plain.pub'), vscode.ConfigurationTarget.Global);
    await assert.rejects(services.podKeys.sshTarget(podId), /holds a public key, not a private key\. Point the setting at the private key/);

    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-C', 'e2e', '-f', path.join(tmp, 'locked')]);
    await c.update('sshIdentityFile', path.join(tmp, 'locked'), vscode.ConfigurationTarget.Global);
    assert.match((await services.podKeys.identityPublicKey())?.publicKey ?? '', /^ssh-ed25519 /);
    let settled: unknown;
    const target = services.podKeys.sshTarget(podId).then(
      () => (settled = 'resolved without asking'),
      (e: unknown) => (settled = e),
    );
    // It asks (an input box is open): dismiss it until the request settles.
    await waitUntil(
      async () => {
        await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
        return settled !== undefined;
      },
      15_000,
      'the passphrase prompt to be answered',
    );
    await target;
    assert.ok(settled instanceof Error, String(settled));
    assert.match(settled.message, /No passphrase given for .*locked/);

    // Cancelled: background connections (job polling, watches) must not ask again every few
    // seconds — refused at once, without an input box, until the user acts.
    const again = await Promise.race([
      services.podKeys.sshTarget(podId).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r('it asked again (an input box is open)'), 5_000)),
    ]);
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.ok(again instanceof Error && /will not ask again until you choose "Enter Passphrase…"/.test(again.message), String(again));
    // The user acts (runs a command that connects): asked once more.
    services.podKeys.allowPassphrasePrompt();
    let settledAgain: unknown;
    const target2 = services.podKeys.sshTarget(podId).then(
      () => (settledAgain = 'resolved without asking'),
      (e: unknown) => (settledAgain = e),
    );
    await waitUntil(
      async () => {
        await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
        return settledAgain !== undefined;
      },
      15_000,
      'the passphrase prompt to be answered again',
    );
    await target2;
    assert.ok(settledAgain instanceof Error && /No passphrase given/.test(settledAgain.message), String(settledAgain));
  });

  it('out-of-range and non-number settings fall back to their defaults', async () => {
    const c = vscode.workspace.getConfiguration('kgpu');
    await c.update('sshPort', 70000, vscode.ConfigurationTarget.Global);
    await c.update('pollIntervalSeconds', 'often', vscode.ConfigurationTarget.Global);
    const s = services.settings.get();
    const envPort = Number(process.env.KGPU_SSH_PORT) || 2222;
    assert.ok(s.sshPort === 2222 || s.sshPort === envPort, `sshPort ${s.sshPort}`);
    assert.equal(s.pollIntervalSeconds, 10);
    await c.update('sshPort', 0, vscode.ConfigurationTarget.Global);
    assert.ok(services.settings.get().sshPort >= 1);
    await c.update('sshPort', undefined, vscode.ConfigurationTarget.Global);
    await c.update('pollIntervalSeconds', undefined, vscode.ConfigurationTarget.Global);
  });

  it("no account token or private key in the extension's logs, output channels, storage or workspace files after the whole run", () => {
    const token = simulatorEnv()?.token ?? process.env.KGPU_API_TOKEN;
    const dirs = [services.context.logUri.fsPath, path.dirname(services.context.logUri.fsPath), services.context.globalStorageUri.fsPath];
    if (services.context.storageUri) dirs.push(services.context.storageUri.fsPath);
    // Files the product wrote under the open workspace (sync state, downloads, settings).
    for (const f of vscode.workspace.workspaceFolders ?? []) if (f.uri.scheme === 'file') dirs.push(f.uri.fsPath);
    const files = [...new Set(dirs.flatMap(filesUnder))].filter(
      (f) => !f.includes(`${path.sep}node_modules${path.sep}`) && statSync(f).size < 64 * 1024 * 1024,
    );
    assert.ok(
      files.some((f) => f.startsWith(services.context.logUri.fsPath) || /kgpu/i.test(f)),
      `the extension's own log is among ${files.length} files`,
    );
    const leaks: string[] = [];
    for (const f of files) {
      const text = readFileSync(f).toString('latin1');
      if (token && text.includes(token)) leaks.push(`the account token in ${f}`);
      if (/PRIVATE KEY-----/.test(text)) leaks.push(`a private key in ${f}`);
      if (/Bearer\s+kgpu_/.test(text)) leaks.push(`an Authorization header in ${f}`);
    }
    assert.deepEqual(leaks, []);
  });
});

/**
 * Host key pinning across a simulator restart: the bastion comes back on the same host:port with a
 * NEW host key (a reinstall — or a man-in-the-middle). Connections are refused with
 * HostKeyChangedError and its warning — also through WorkspaceFs, as the editor would show it —
 * and the pin in the persistent store is not replaced. (Same bastion object restarted with another
 * key file: test/unit/kgpu/ssh/host-keys.test.ts.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { JsonFileHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { HostKeyChangedError } from '../../../src/kgpu/ssh/ssh-errors';
import { WorkspaceFs, WorkspaceFsError } from '../../../src/kgpu/fs/workspace-fs';
import { hostKeyChanged } from '../kgpu/ssh/host-key-change-fixture';

test('the simulator restarted with a new host key on the same port: HostKeyChangedError with the warning, pin kept, nothing sent', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-hostkey-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new JsonFileHostKeyStore(path.join(dir, 'known-hosts.json'));

  // A different simulator (fresh state dir → fresh host key) on the same port.
  const { hostPort, pinned, second, pod: b } = await hostKeyChanged(t, store);
  const c2 = new PodConnector({
    host: second.sshHost,
    port: second.sshPort,
    privateKey: b.privateKey,
    hostKeys: new JsonFileHostKeyStore(path.join(dir, 'known-hosts.json')),
  });
  t.after(() => c2.dispose());
  const authBefore = second.bastion.counters.authFailures;
  const err = await exec(c2, 'touch /workspace/should-not-exist').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof HostKeyChangedError, String(err));
  assert.match(err.message, new RegExp(`WARNING: the SSH host key of ${hostPort.replace(/\./g, '\\.')} has changed`));
  assert.match(err.message, /man-in-the-middle/);
  assert.match(err.message, /kgpu did not connect/);
  assert.equal(err.expected, pinned);
  assert.equal(await new JsonFileHostKeyStore(path.join(dir, 'known-hosts.json')).get(hostPort), pinned, 'the pin is not replaced');
  assert.equal(second.bastion.counters.authFailures, authBefore, 'we never offered our key to the impostor');
  const podDir = second.state.pods.get(b.podId)?.handle?.workspaceDir;
  assert.ok(podDir && !fs.existsSync(path.join(podDir, 'should-not-exist')));

  // The editor's file system shows the same warning (not a generic "unreachable").
  const wfs = new WorkspaceFs({ podId: b.podId, connector: async () => c2 });
  t.after(() => wfs.dispose());
  await assert.rejects(
    wfs.stat('/workspace'),
    (e: unknown) => e instanceof WorkspaceFsError && /host key of .* has changed/.test(e.message) && /man-in-the-middle/.test(e.message),
  );
});

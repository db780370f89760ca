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
import { startSimulator } from '../../sim/index';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { JsonFileHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { HostKeyChangedError } from '../../../src/kgpu/ssh/ssh-errors';
import { WorkspaceFs, WorkspaceFsError } from '../../../src/kgpu/fs/workspace-fs';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';

async function rentedPod(
  sim: Awaited<ReturnType<typeof startSimulator>>,
): Promise<{ podId: string; privateKey: string; close(): Promise<void> }> {
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token });
  const key = throwawayEd25519();
  const r = await client.rent({ gpu_model: 'v100', ssh_pubkey: key.public });
  await client.waitUntilReady(r.pod_id, { intervalMs: 10, pollFloorMs: 0 });
  return { podId: r.pod_id, privateKey: key.private, close: () => client.close() };
}

test('the simulator restarted with a new host key on the same port: HostKeyChangedError with the warning, pin kept, nothing sent', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-hostkey-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new JsonFileHostKeyStore(path.join(dir, 'known-hosts.json'));

  const first = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0 });
  const a = await rentedPod(first);
  const c1 = new PodConnector({ host: first.sshHost, port: first.sshPort, privateKey: a.privateKey, hostKeys: store });
  assert.equal((await exec(c1, 'true')).exitCode, 0);
  c1.dispose();
  const hostPort = `${first.sshHost}:${first.sshPort}`;
  const pinned = await store.get(hostPort);
  assert.match(pinned ?? '', /^SHA256:/);
  const port = first.sshPort;
  await a.close();
  await first.stop();

  // A different simulator (fresh state dir → fresh host key) on the same port.
  const second = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0, sshPort: port });
  t.after(() => second.stop());
  const b = await rentedPod(second);
  t.after(() => b.close());
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

/**
 * Security finding 5: a way back from a changed bastion host key. The simulator restarts on the
 * same port with a NEW host key: the refusal names what to do (the command and the pin file); the
 * pin store is re-read (a window-lifetime cache made removing the entry useless until a reload, and
 * the next write put it back); probeHostKey reads the key the bastion presents now without
 * offering ours (what "kgpu: Forget Bastion Host Key…" shows next to the pinned one).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { probeHostKey } from '../../../src/kgpu/ssh/host-key-probe';
import { JsonFileHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { HostKeyChangedError } from '../../../src/kgpu/ssh/ssh-errors';
import { hostKeyChanged } from '../kgpu/ssh/host-key-change-fixture';

test('changed host key: the error names the command and the pin file; removing the entry works at once (no cached pin), and later writes do not restore it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-sec-hostkey-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'known-hosts.json');
  // ONE store for the whole test, as one window holds one for its lifetime.
  const store = new JsonFileHostKeyStore(file);

  const { hostPort, pinned: oldPin, second, pod: b } = await hostKeyChanged(t, store);
  const connector = (): PodConnector => {
    const c = new PodConnector({ host: second.sshHost, port: second.sshPort, privateKey: b.privateKey, hostKeys: store });
    t.after(() => c.dispose());
    return c;
  };

  // Refused, and the message says what to do: the command, the file, the entry.
  const err = await exec(connector(), 'true').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof HostKeyChangedError, String(err));
  assert.match(err.message, /kgpu did not connect/);
  assert.ok(err.message.includes('kgpu: Forget Bastion Host Key…'), err.message);
  assert.ok(err.message.includes(file), `the message names ${file}: ${err.message}`);
  assert.ok(err.message.includes(`"${hostPort}"`), err.message);

  // What the command shows: the key the bastion presents now — read without authenticating.
  const authBefore = second.bastion.counters.authFailures;
  const now = await probeHostKey(second.sshHost, second.sshPort);
  assert.equal(now, err.actual);
  assert.notEqual(now, oldPin);
  assert.equal(second.bastion.counters.authFailures, authBefore, 'the probe never offers a key');

  // The user removes the entry from the file (by hand, as the message says) — the same store
  // sees it at once, pins the new key on the next connection, and the connection works.
  fs.writeFileSync(file, JSON.stringify({}));
  assert.equal((await exec(connector(), 'echo ok')).stdout.toString(), 'ok\n');
  assert.equal(await store.get(hostPort), now);

  // A write for another host does not bring the removed pin back.
  fs.writeFileSync(file, JSON.stringify({ 'other.example:22': 'SHA256:other' }));
  await store.set('third.example:22', 'SHA256:third');
  const onDisk = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  assert.deepEqual(onDisk, { 'other.example:22': 'SHA256:other', 'third.example:22': 'SHA256:third' });

  // Forget (what the command does after asking): the entry goes; the other pins stay.
  await store.set(hostPort, oldPin!);
  await assert.rejects(exec(connector(), 'true'), HostKeyChangedError);
  await store.delete(hostPort);
  assert.equal(await store.get(hostPort), undefined);
  assert.equal(await store.get('other.example:22'), 'SHA256:other');
  assert.equal((await exec(connector(), 'echo again')).stdout.toString(), 'again\n');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

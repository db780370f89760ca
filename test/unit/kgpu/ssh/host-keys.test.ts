import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { utils } from 'ssh2';
import { startBastion } from '../../../sim/bastion';
import { JsonFileHostKeyStore, sshFingerprint } from '../../../../src/kgpu/ssh/host-keys';
import { HostKeyChangedError } from '../../../../src/kgpu/ssh/ssh-errors';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../../src/kgpu/ssh/ssh-exec';
import { parseableKeyPair, startPodFixture, writeHostKey } from './pod-fixture';

test('sshFingerprint matches ssh-keygen -lf', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-fp-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const k = parseableKeyPair();
  fs.writeFileSync(path.join(dir, 'k.pub'), k.public);
  const r = spawnSync('ssh-keygen', ['-lf', path.join(dir, 'k.pub')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const parsed = utils.parseKey(k.public);
  if (parsed instanceof Error) throw parsed;
  assert.equal(sshFingerprint(parsed.getPublicSSH()), r.stdout.split(' ')[1]);
});

test('JsonFileHostKeyStore persists pins (0600) across instances', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-kh-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sub', 'known-hosts.json');
  const a = new JsonFileHostKeyStore(file);
  assert.equal(await a.get('h:1'), undefined);
  await a.set('h:1', 'SHA256:abc');
  await a.set('h:2', 'SHA256:def');
  const b = new JsonFileHostKeyStore(file);
  assert.equal(await b.get('h:1'), 'SHA256:abc');
  assert.equal(await b.get('h:2'), 'SHA256:def');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('TOFU: first connection pins the bastion key; a different key on the same host:port is refused', async (t) => {
  const pod = await startPodFixture();
  t.after(() => pod.stop());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-tofu-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new JsonFileHostKeyStore(path.join(dir, 'known-hosts.json'));
  const c = pod.connector({ hostKeys: store });
  assert.equal((await exec(c, 'true')).exitCode, 0);
  const pinned = await new JsonFileHostKeyStore(path.join(dir, 'known-hosts.json')).get(c.hostPort);
  assert.match(pinned ?? '', /^SHA256:[A-Za-z0-9+/]{43}$/);
  // The same bastion (same persistent key) is accepted again.
  assert.equal((await exec(c, 'true')).exitCode, 0);

  // Another bastion with a fresh host key takes over the same port: a man-in-the-middle, or a reinstall.
  const port = pod.bastion.port;
  await pod.bastion.stop();
  writeHostKey(path.join(dir, 'other_host_key'));
  const imposter = await startBastion({ directory: pod.directory, hostKeyPath: path.join(dir, 'other_host_key'), port });
  t.after(() => imposter.stop());
  const err = await exec(c, 'true').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof HostKeyChangedError, String(err));
  assert.match(err.message, /host key of 127\.0\.0\.1:\d+ has changed/);
  assert.match(err.message, /man-in-the-middle/);
  assert.equal(err.expected, pinned);
  assert.notEqual(err.actual, pinned);
  // The pin is not silently replaced.
  assert.equal(await store.get(c.hostPort), pinned);
  // A fresh store trusts the new key on first use.
  const fresh = new PodConnector({
    host: imposter.host,
    port,
    privateKey: pod.privateKey,
    hostKeys: new JsonFileHostKeyStore(path.join(dir, 'other.json')),
  });
  t.after(() => fresh.dispose());
  assert.equal((await exec(fresh, 'true')).exitCode, 0);
});

/**
 * Guard for the one ssh2-internals trick (src/kgpu/ssh/sftp-over-exec.ts). If an ssh2 upgrade changes
 * what we rely on, these fail loudly instead of SFTP silently breaking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { openSftpOverExec, ssh2ProtocolInternals } from '../../../../src/kgpu/ssh/sftp-over-exec';
import { startPodFixture } from './pod-fixture';

const ssh2Dir = path.dirname(require.resolve('ssh2/package.json'));

test('ssh2 is pinned to the version the SFTP-over-exec trick was written for', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ssh2Dir, 'package.json'), 'utf8')) as { version: string };
  assert.equal(pkg.version, '1.17.0', 'ssh2 changed: re-check src/kgpu/ssh/sftp-over-exec.ts, then update this pin');
  const ours = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../../package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  assert.equal(ours.dependencies.ssh2, '1.17.0', 'package.json must pin ssh2 exactly');
});

test('ssh2 Client#sftp() still sends exactly one subsystem request through _protocol.subsystem', () => {
  const src = fs.readFileSync(path.join(ssh2Dir, 'lib/client.js'), 'utf8');
  assert.match(src, /reqSubsystem\(sftp, 'sftp', reqSubsystemCb\)/);
  assert.match(src, /chan\._client\._protocol\.subsystem\(chan\.outgoing\.id, name, true\)/);
  const sftpSrc = fs.readFileSync(path.join(ssh2Dir, 'lib/protocol/SFTP.js'), 'utf8');
  assert.match(sftpSrc, /this\._isOpenSSH = /, 'SFTP#_isOpenSSH (symlink argument order) moved');
  assert.match(sftpSrc, /sftp\._maxWriteLen = limits\.maxWriteLen/, 'limits@openssh.com handling moved');
});

test('against the bastion: subsystem refused, SFTP over exec works, internals present, limits negotiated', async (t) => {
  const pod = await startPodFixture();
  t.after(() => pod.stop());
  const c = pod.connector();

  // Plain ssh2 sftp() asks for the subsystem: the bastion refuses it (as with OpenSSH's scp without -O).
  const plain = await c.connect();
  const refused = await new Promise<Error | undefined>((resolve) => plain.client.sftp((err) => resolve(err)));
  plain.close();
  assert.ok(refused instanceof Error, 'the bastion must refuse the sftp subsystem');
  assert.ok(pod.bastion.counters.refusedSubsystems >= 1);
  const refusedBefore = pod.bastion.counters.refusedSubsystems;

  const conn = await c.connect();
  t.after(() => conn.close());
  const internals = ssh2ProtocolInternals(conn.client);
  const subsystemBefore = internals.subsystem;
  const sftp: SFTPWrapper = await openSftpOverExec(conn.client);
  assert.equal(internals.subsystem, subsystemBefore, 'the original subsystem request is restored');
  assert.equal(pod.bastion.counters.refusedSubsystems, refusedBefore, 'no subsystem request reached the bastion');
  const limits = sftp as unknown as { _maxWriteLen: number; _maxReadLen: number; _extensions: Record<string, string> };
  assert.equal(limits._maxWriteLen, 261120, 'OpenSSH sftp-server limits@openssh.com negotiated');
  assert.equal(limits._maxReadLen, 261120);
  assert.ok('posix-rename@openssh.com' in limits._extensions);
  const list = await new Promise<{ filename: string }[]>((resolve, reject) =>
    sftp.readdir('/workspace', (e, l) => (e ? reject(e) : resolve(l))),
  );
  assert.ok(Array.isArray(list));
});

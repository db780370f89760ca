/**
 * Bulk copies over the system's OpenSSH client (bulk-client.ts, openssh-exec.ts) against the
 * simulator's bastion: the bytes arrive (sha256), no ssh2 connection carries them, the host key is
 * pinned, the key's temp files are private and removed, cancellation ends ssh, and ssh2 takes over
 * when `ssh` is missing or cannot start.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { utils } from 'ssh2';
import { RemoteFs } from '../../../../src/kgpu/fs/remote-fs';
import { BulkClient } from '../../../../src/kgpu/transfer/bulk-client';
import { upload } from '../../../../src/kgpu/transfer/bulk-transfer';
import { OpensshConnectionError, OpensshExec, findSsh } from '../../../../src/kgpu/ssh/openssh-exec';
import { SshAbortedError } from '../../../../src/kgpu/ssh/ssh-errors';
import type { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { parseableKeyPair, startPodFixture, type PodFixture } from '../ssh/pod-fixture';

const SSH = findSsh();
const skip = SSH ? false : 'no `ssh` on PATH (Debian: openssh-client)';

let pod: PodFixture;
let local: string;
before(async () => {
  pod = await startPodFixture();
  local = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-openssh-bulk-'));
});
after(async () => {
  await pod?.stop();
  fs.rmSync(local, { recursive: true, force: true });
});

const sha = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
function randomFile(name: string, mb: number): string {
  const f = path.join(local, name);
  fs.writeFileSync(f, randomBytes(mb * 1024 * 1024));
  return f;
}

test('uploads go over OpenSSH (downloads too when forced): the bytes arrive, no ssh2 connection carries them', { skip }, async () => {
  const connector = pod.connector();
  const rfs = new RemoteFs(connector, { opensshMinBytes: 4 * 1024 * 1024 });
  const forced = new RemoteFs(connector, { bulkClient: 'openssh' });
  try {
    assert.deepEqual(rfs.bulk().choice, { client: 'openssh' });
    // Below the size threshold: ssh2 (no process and handshake per small file).
    const small = randomFile('small.bin', 1);
    const before = connector.connectStats.fresh;
    await rfs.upload(small, '/workspace/small.bin');
    assert.equal(connector.connectStats.fresh, before + 1, 'a small file goes over ssh2');
    assert.equal(sha(path.join(pod.hostDir, 'small.bin')), sha(small));
    const src = randomFile('up.bin', 6);
    await rfs.upload(src, '/workspace/up.bin'); // the first copy also verifies the host key once over ssh2
    const fresh = connector.connectStats.fresh;
    const src2 = randomFile('up2.bin', 6);
    const r = await rfs.upload(src2, '/workspace/up2.bin', { verify: 'always' });
    assert.equal(r.verified, true);
    assert.equal(sha(path.join(pod.hostDir, 'up2.bin')), sha(src2));
    assert.equal(sha(path.join(pod.hostDir, 'up.bin')), sha(src));
    const back = path.join(local, 'back.bin');
    await forced.download('/workspace/up2.bin', back);
    assert.equal(sha(back), sha(src2));
    assert.equal(connector.connectStats.fresh, fresh, 'no ssh2 connection was opened for the bytes');
    assert.equal(rfs.bulk().opensshRunning + forced.bulk().opensshRunning, 0);
  } finally {
    rfs.dispose();
    forced.dispose();
  }
});

test('the host key is pinned: OpenSSH refuses a bastion whose key is not the verified one, and runs nothing', { skip }, async () => {
  const connector = pod.connector();
  await connector.connect().then((c) => c.close());
  const real = connector.clientTarget;
  const other = utils.parseKey(parseableKeyPair().public);
  if (other instanceof Error) throw other;
  const impostor = { clientTarget: { ...real, hostKey: other.getPublicSSH() } } as unknown as PodConnector;
  const ossh = new OpensshExec(impostor, SSH!);
  try {
    const s = ossh.execStream('touch /workspace/ran-anyway');
    s.stdin.end();
    await assert.rejects(s.done, (e: unknown) => e instanceof OpensshConnectionError && /Host key verification failed/i.test(e.stderr));
    assert.equal(fs.existsSync(path.join(pod.hostDir, 'ran-anyway')), false);
  } finally {
    ossh.dispose();
  }
});

test("the key's temp files are private, never on the command line, and removed on dispose", { skip }, async () => {
  const connector = pod.connector();
  await connector.connect().then((c) => c.close());
  const ossh = new OpensshExec(connector, SSH!);
  const argv = ossh.args('true');
  const dir = ossh.privateDir!;
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  for (const f of fs.readdirSync(dir)) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  assert.equal(fs.readFileSync(path.join(dir, 'id'), 'utf8').trim(), pod.privateKey.trim());
  const body = pod.privateKey.split('\n')[1];
  assert.ok(!argv.some((a) => a.includes(body)), 'the key itself is not an argument');
  assert.ok(argv.includes('-F') && argv[argv.indexOf('-F') + 1] === 'none', 'no user configuration');
  assert.ok(argv.includes('StrictHostKeyChecking=yes') && argv.includes('BatchMode=yes'));
  const s = ossh.execStream('echo hi');
  s.stdin.end();
  let out = '';
  s.stdout.on('data', (b: Buffer) => (out += b.toString()));
  assert.deepEqual(await s.done, { exitCode: 0, signal: null });
  assert.equal(out, 'hi\n');
  ossh.dispose();
  assert.equal(fs.existsSync(dir), false);
});

test('cancelling an upload ends ssh and leaves nothing in the pod', { skip }, async () => {
  const connector = pod.connector();
  const rfs = new RemoteFs(connector);
  try {
    await connector.connect().then((c) => c.close());
    const src = randomFile('big.bin', 64); // above the default threshold: over OpenSSH
    const ac = new AbortController();
    let seen = 0;
    let sshRunning = 0;
    const up = rfs.upload(src, '/workspace/cancelled.bin', {
      signal: ac.signal,
      onProgress: (p) => {
        seen = p.bytes;
        if (p.bytes > 0 && !ac.signal.aborted) {
          sshRunning = rfs.bulk().opensshRunning;
          ac.abort();
        }
      },
    });
    await assert.rejects(up, (e: unknown) => e instanceof SshAbortedError);
    assert.ok(seen > 0);
    assert.equal(sshRunning, 1, 'the copy ran over OpenSSH');
    assert.equal(rfs.bulk().choice.client, 'openssh', 'the cancelled copy did not fall back to ssh2');
    assert.equal(rfs.bulk().opensshRunning, 0, 'no ssh process is left running');
    assert.equal(fs.existsSync(path.join(pod.hostDir, 'cancelled.bin')), false);
    const left = fs.readdirSync(pod.hostDir).filter((n) => n.includes('cancelled.bin'));
    assert.deepEqual(left, [], 'no temp file is left in the pod');
  } finally {
    rfs.dispose();
  }
});

test('ssh2 carries the copy when there is no `ssh` on PATH, or when ssh cannot start', async () => {
  const connector = pod.connector();
  const savedPath = process.env.PATH;
  const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-no-ssh-'));
  let noSsh: BulkClient;
  try {
    process.env.PATH = emptyDir;
    noSsh = new BulkClient(connector);
  } finally {
    process.env.PATH = savedPath;
  }
  assert.deepEqual(noSsh.choice, { client: 'ssh2', reason: 'no `ssh` program on PATH' });
  const src = randomFile('fallback.bin', 3);
  const before = connector.connectStats.fresh;
  await upload(connector, src, '/workspace/fallback-1.bin', { streams: noSsh });
  assert.ok(connector.connectStats.fresh > before, 'ssh2 carried it');
  assert.equal(sha(path.join(pod.hostDir, 'fallback-1.bin')), sha(src));
  noSsh.dispose();
  fs.rmSync(emptyDir, { recursive: true, force: true });

  // `ssh` configured but cannot start (gone since): this copy and later ones fall back to ssh2.
  const rfs = new RemoteFs(connector, { sshPath: path.join(local, 'no-such-ssh'), opensshMinBytes: 0 });
  try {
    assert.equal(rfs.bulk().choice.client, 'openssh');
    await rfs.upload(src, '/workspace/fallback-2.bin');
    assert.equal(sha(path.join(pod.hostDir, 'fallback-2.bin')), sha(src));
    const choice = rfs.bulk().choice;
    assert.equal(choice.client, 'ssh2');
    assert.match(choice.reason ?? '', /OpenSSH failed before the pod answered/);
  } finally {
    rfs.dispose();
  }
});

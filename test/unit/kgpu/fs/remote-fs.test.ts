import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { RemoteFs, RemoteFsError } from '../../../../src/kgpu/fs/remote-fs';
import { exec } from '../../../../src/kgpu/ssh/ssh-exec';
import { quote } from '../../../../src/kgpu/util/shell-quote';
import { SshAbortedError } from '../../../../src/kgpu/ssh/ssh-errors';
import { startPodFixture, type PodFixture } from '../ssh/pod-fixture';

let pod: PodFixture;
let rfs: RemoteFs;
let local: string;
before(async () => {
  pod = await startPodFixture();
  rfs = new RemoteFs(pod.connector());
  local = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-rfs-'));
});
after(async () => {
  rfs?.dispose();
  await pod?.stop();
  fs.rmSync(local, { recursive: true, force: true });
});

const host = (p: string): string => path.join(pod.hostDir, path.posix.relative('/workspace', p));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const shaFile = (f: string): string => sha(fs.readFileSync(f));

test('mkdirp, writeFile, readdir with attrs, stat follows symlinks, lstat does not', async () => {
  await rfs.mkdirp('/workspace/t1/a/b/c');
  await rfs.mkdirp('/workspace/t1/a/b/c'); // idempotent
  assert.ok(fs.statSync(host('/workspace/t1/a/b/c')).isDirectory());
  await rfs.writeFile('/workspace/t1/a/f.txt', 'hello', { mode: 0o600 });
  await rfs.symlink('f.txt', '/workspace/t1/a/link');
  await rfs.symlink('missing', '/workspace/t1/a/dangling');
  assert.equal(fs.readlinkSync(host('/workspace/t1/a/link')), 'f.txt');

  const entries = await rfs.readdir('/workspace/t1/a');
  const byName = new Map(entries.map((e) => [e.name, e.stat]));
  assert.deepEqual([...byName.keys()].sort(), ['b', 'dangling', 'f.txt', 'link']);
  assert.equal(byName.get('b')?.type, 'directory');
  assert.equal(byName.get('f.txt')?.type, 'file');
  assert.equal(byName.get('f.txt')?.size, 5);
  assert.equal(byName.get('f.txt')?.mode, 0o600);
  assert.deepEqual([byName.get('link')?.type, byName.get('link')?.isSymbolicLink, byName.get('link')?.size], ['file', true, 5]);
  assert.deepEqual([byName.get('dangling')?.type, byName.get('dangling')?.isSymbolicLink], ['symlink', true]);

  const st = await rfs.stat('/workspace/t1/a/link');
  assert.deepEqual([st.type, st.isSymbolicLink, st.size], ['file', true, 5]);
  const lst = await rfs.lstat('/workspace/t1/a/link');
  assert.deepEqual([lst.type, lst.isSymbolicLink], ['symlink', true]);
  assert.equal((await rfs.readFile('/workspace/t1/a/link')).toString(), 'hello');
  await assert.rejects(rfs.stat('/workspace/t1/nope'), (e: unknown) => e instanceof RemoteFsError && e.code === 'ENOENT');
  assert.equal(await rfs.tryStat('/workspace/t1/nope'), undefined);
  await assert.rejects(rfs.mkdirp('/workspace/t1/a/f.txt/x'), (e: unknown) => e instanceof RemoteFsError && e.code === 'ENOTDIR');
});

test('atomicWrite replaces content, keeps the target mode, leaves no temp files', async () => {
  await rfs.mkdirp('/workspace/t2');
  await rfs.writeFile('/workspace/t2/run.sh', '#!/bin/sh\necho old\n', { mode: 0o755 });
  await rfs.atomicWrite('/workspace/t2/run.sh', '#!/bin/sh\necho new\n');
  assert.equal(fs.readFileSync(host('/workspace/t2/run.sh'), 'utf8'), '#!/bin/sh\necho new\n');
  assert.equal(fs.statSync(host('/workspace/t2/run.sh')).mode & 0o777, 0o755);
  await rfs.atomicWrite('/workspace/t2/new.txt', 'n', { mode: 0o640 });
  assert.equal(fs.statSync(host('/workspace/t2/new.txt')).mode & 0o777, 0o640);
  assert.deepEqual(fs.readdirSync(host('/workspace/t2')).sort(), ['new.txt', 'run.sh']);
  // Into a directory that does not exist: fails, nothing left behind.
  await assert.rejects(rfs.atomicWrite('/workspace/t2/missing/x', 'x'), RemoteFsError);
  // Over a directory: refused, the directory is untouched.
  await rfs.mkdirp('/workspace/t2/d');
  await assert.rejects(rfs.atomicWrite('/workspace/t2/d', 'x'), (e: unknown) => e instanceof RemoteFsError && e.code === 'EISDIR');
  assert.deepEqual(fs.readdirSync(host('/workspace/t2')).sort(), ['d', 'new.txt', 'run.sh']);
});

test('rename: overwrite replaces atomically; without overwrite an existing target is EEXIST', async () => {
  await rfs.mkdirp('/workspace/t3');
  await rfs.writeFile('/workspace/t3/a', 'A');
  await rfs.writeFile('/workspace/t3/b', 'B');
  await assert.rejects(
    rfs.rename('/workspace/t3/a', '/workspace/t3/b', { overwrite: false }),
    (e: unknown) => e instanceof RemoteFsError && e.code === 'EEXIST',
  );
  assert.equal(fs.readFileSync(host('/workspace/t3/b'), 'utf8'), 'B');
  await rfs.rename('/workspace/t3/a', '/workspace/t3/b', { overwrite: true });
  assert.equal(fs.readFileSync(host('/workspace/t3/b'), 'utf8'), 'A');
  assert.equal(fs.existsSync(host('/workspace/t3/a')), false);
  await rfs.rename('/workspace/t3/b', '/workspace/t3/c', { overwrite: false });
  assert.deepEqual(fs.readdirSync(host('/workspace/t3')), ['c']);
});

test('rmrf removes a tree (hostile names included) and refuses /', async () => {
  await rfs.mkdirp('/workspace/t4/x y/$(z)');
  await rfs.writeFile('/workspace/t4/x y/$(z)/-f', 'f');
  await rfs.rmrf('/workspace/t4');
  assert.equal(fs.existsSync(host('/workspace/t4')), false);
  await rfs.rmrf('/workspace/t4'); // idempotent
  await assert.rejects(rfs.rmrf('/'), /Refusing/);
});

test('hostile file names round-trip through SFTP and through exec with quote()', async () => {
  const names = ['two words', "it's", '"dq"', '$(touch pwned)', '`id`', 'new\nline', '-rf', '--', '*', 'ü ✓', 'a\\b', ' lead', 'trail '];
  await rfs.mkdirp('/workspace/t5');
  for (const n of names) await rfs.writeFile(`/workspace/t5/${n}`, `content of ${n}`);
  assert.deepEqual(fs.readdirSync(host('/workspace/t5')).sort(), [...names].sort());
  assert.deepEqual((await rfs.readdir('/workspace/t5')).map((e) => e.name).sort(), [...names].sort());
  for (const n of names) {
    assert.equal((await rfs.readFile(`/workspace/t5/${n}`)).toString(), `content of ${n}`);
    const r = await exec(pod.connector(), `cat -- ${quote(`/workspace/t5/${n}`)}`);
    assert.equal(r.stdout.toString(), `content of ${n}`);
  }
  await rfs.rename('/workspace/t5/$(touch pwned)', "/workspace/t5/it's", { overwrite: true });
  assert.equal((await rfs.readFile("/workspace/t5/it's")).toString(), 'content of $(touch pwned)');
  assert.equal(fs.existsSync(host('/workspace/pwned')), false);
});

test('streams: pipelined read and write streams round-trip 5 MB', async () => {
  const data = randomBytes(5 * 1024 * 1024 + 123);
  const w = rfs.createWriteStream('/workspace/stream.bin');
  await new Promise<void>((resolve, reject) => {
    w.on('error', reject).on('finish', resolve);
    for (let off = 0; off < data.length; off += 100_000) w.write(data.subarray(off, off + 100_000));
    w.end();
  });
  assert.equal(shaFile(host('/workspace/stream.bin')), sha(data));
  const parts: Buffer[] = [];
  for await (const b of rfs.createReadStream('/workspace/stream.bin')) parts.push(b as Buffer);
  assert.equal(sha(Buffer.concat(parts)), sha(data));
  const slice: Buffer[] = [];
  for await (const b of rfs.createReadStream('/workspace/stream.bin', { start: 10, end: 19 })) slice.push(b as Buffer);
  assert.deepEqual(Buffer.concat(slice), data.subarray(10, 20));
});

test('the SFTP connection is reopened transparently after it drops', async () => {
  await rfs.writeFile('/workspace/re.txt', 'before');
  const conns = pod.bastion.counters.connections;
  pod.bastion.dropConnections({ podId: pod.podId });
  assert.equal((await rfs.readFile('/workspace/re.txt')).toString(), 'before');
  await rfs.atomicWrite('/workspace/re.txt', 'after');
  assert.equal(fs.readFileSync(host('/workspace/re.txt'), 'utf8'), 'after');
  assert.ok(pod.bastion.counters.connections > conns, 'a fresh connection was opened');
});

test('a 50 MB file round-trips byte-identical (upload, download, writeFile/readFile)', async () => {
  const src = path.join(local, 'big.bin');
  fs.writeFileSync(src, randomBytes(50 * 1024 * 1024));
  const want = shaFile(src);
  const up = await rfs.upload(src, '/workspace/big.bin');
  assert.equal(up.bytes, 50 * 1024 * 1024);
  assert.equal(shaFile(host('/workspace/big.bin')), want);
  const dst = path.join(local, 'big.down');
  await rfs.download('/workspace/big.bin', dst);
  assert.equal(shaFile(dst), want);
  const whole = await rfs.readFile('/workspace/big.bin');
  assert.equal(sha(whole), want);
  await rfs.writeFile('/workspace/big2.bin', whole);
  assert.equal(shaFile(host('/workspace/big2.bin')), want);
  assert.deepEqual(fs.readdirSync(local).sort(), ['big.bin', 'big.down']);
});

test('a dropped connection mid-upload: the target is old or complete, never truncated, and the resume is verified', async () => {
  const src = path.join(local, 'resume-up.bin');
  fs.writeFileSync(src, randomBytes(40 * 1024 * 1024));
  const old = Buffer.from('the previous version');
  fs.writeFileSync(host('/workspace/resume.bin'), old);
  fs.chmodSync(host('/workspace/resume.bin'), 0o640);
  let dropped = false;
  const seen: number[] = [];
  const r = await rfs.upload(src, '/workspace/resume.bin', {
    onProgress: ({ bytes }) => {
      seen.push(bytes);
      if (!dropped && bytes > 15 * 1024 * 1024) {
        dropped = true;
        pod.bastion.dropConnections({ podId: pod.podId });
        // Right after the drop the target is still the old file.
        assert.deepEqual(fs.readFileSync(host('/workspace/resume.bin')), old);
      }
    },
  });
  assert.ok(dropped);
  assert.ok(r.resumes >= 1, 'the upload resumed');
  assert.equal(r.verified, true, 'a resumed upload is checked with sha256 before it replaces the target');
  assert.equal(shaFile(host('/workspace/resume.bin')), shaFile(src));
  assert.equal(fs.statSync(host('/workspace/resume.bin')).mode & 0o777, 0o640, "the target's mode is kept");
  assert.deepEqual(
    fs.readdirSync(pod.hostDir).filter((n) => n.includes('kgpu-upload')),
    [],
    'no temp file left',
  );
  // It resumed from where it was, not from zero.
  const afterDrop = seen[seen.findIndex((b) => b > 15 * 1024 * 1024) + 1];
  assert.ok(afterDrop === undefined || afterDrop > 0);
});

test('a dropped connection mid-download resumes without corruption', async () => {
  const data = randomBytes(30 * 1024 * 1024);
  fs.writeFileSync(host('/workspace/resume-down.bin'), data);
  const dst = path.join(local, 'resume-down.bin');
  fs.writeFileSync(dst, 'old local');
  let dropped = false;
  const r = await rfs.download('/workspace/resume-down.bin', dst, {
    onProgress: ({ bytes }) => {
      if (!dropped && bytes > 10 * 1024 * 1024) {
        dropped = true;
        pod.bastion.dropConnections({ podId: pod.podId, afterBytes: 64 * 1024 });
        assert.equal(fs.readFileSync(dst, 'utf8'), 'old local');
      }
    },
  });
  assert.ok(dropped);
  assert.ok(r.resumes >= 1);
  assert.equal(r.verified, true);
  assert.equal(shaFile(dst), sha(data));
  assert.equal(fs.existsSync(`${dst}.kgpu-part`), false);
});

test('atomicWrite survives a dropped connection mid-write: old content until the swap, then complete; temps cleaned', async () => {
  await rfs.mkdirp('/workspace/t6');
  fs.writeFileSync(host('/workspace/t6/model.pt'), 'old');
  const data = randomBytes(30 * 1024 * 1024);
  const writing = rfs.atomicWrite('/workspace/t6/model.pt', data);
  // Wait (bounded) until the temp file is being written, then drop every connection of the pod.
  const deadline = Date.now() + 10_000;
  const temps = (): string[] => fs.readdirSync(host('/workspace/t6')).filter((n) => n.includes('.kgpu-'));
  while (temps().length === 0 || fs.statSync(host(`/workspace/t6/${temps()[0]}`)).size === 0) {
    assert.ok(Date.now() < deadline, 'the temp file never appeared');
    await new Promise((r) => setImmediate(r));
  }
  pod.bastion.dropConnections({ podId: pod.podId });
  assert.equal(fs.readFileSync(host('/workspace/t6/model.pt'), 'utf8'), 'old');
  await writing;
  assert.equal(shaFile(host('/workspace/t6/model.pt')), sha(data));
  while (temps().length > 0) {
    assert.ok(Date.now() < deadline + 10_000, `temp files left: ${temps().join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
});

test('a cancelled upload leaves the target untouched and removes its temp file', async () => {
  const src = path.join(local, 'cancel.bin');
  fs.writeFileSync(src, randomBytes(30 * 1024 * 1024));
  fs.writeFileSync(host('/workspace/cancel.bin'), 'keep me');
  const ac = new AbortController();
  const p = rfs.upload(src, '/workspace/cancel.bin', {
    signal: ac.signal,
    onProgress: ({ bytes }) => {
      if (bytes > 5 * 1024 * 1024) ac.abort();
    },
  });
  await assert.rejects(p, SshAbortedError);
  assert.equal(fs.readFileSync(host('/workspace/cancel.bin'), 'utf8'), 'keep me');
  assert.deepEqual(
    fs.readdirSync(pod.hostDir).filter((n) => n.includes('cancel.bin.kgpu-upload')),
    [],
  );
});

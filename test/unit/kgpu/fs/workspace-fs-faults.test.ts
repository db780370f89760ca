/**
 * The pod file system under faults: a save interrupted by a dropped connection, a 50 MB round
 * trip, and a pod that ends under an open workspace (reads from cache, writes refused with the
 * end reason).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { WorkspaceFsError } from '../../../../src/kgpu/fs/workspace-fs';
import { startWsFixture, waitUntil } from './workspace-fs-fixture';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('a save cut by a dropped connection never leaves a truncated file; retried once on a fresh connection', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const p = '/workspace/train.py';
  const old = Buffer.from('print("old")\n'.repeat(1000));
  fs.writeFileSync(f.host(p), old);
  const next = randomBytes(8 * 1024 * 1024);

  // Watch the file on the pod's disk the whole time: it is always the old or the new content.
  const seen = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      seen.add(sha(fs.readFileSync(f.host(p))));
      await new Promise((r) => setImmediate(r));
    }
  })();
  await wfs.stat(p); // the SFTP session is open before the fault is armed
  f.sim.bastion.dropConnections({ podId: f.podId, afterBytes: 2000 });
  await wfs.writeFile(p, next, { create: true, overwrite: true });
  watching = false;
  await watcher;
  assert.equal(sha(fs.readFileSync(f.host(p))), sha(next), 'the retry on a fresh connection completed the save');
  for (const h of seen) assert.ok(h === sha(old) || h === sha(next), 'the file was never seen truncated or mixed');
  assert.ok(f.sim.bastion.counters.connections >= 2, 'a second connection was made');
  assert.equal((await wfs.stat(p)).size, next.length);
});

test('a save that cannot complete leaves the old content intact and says it was not saved', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const p = '/workspace/model.py';
  fs.writeFileSync(f.host(p), 'old content\n');
  await wfs.stat(p); // the SFTP session is open before the faults are armed
  // The open connection is cut a few write acknowledgements into the 4 MiB write (long before the
  // rename is sent), every new one while its SFTP session starts: the attempt and its retry fail.
  f.sim.bastion.dropConnections({ podId: f.podId, afterBytes: 300 });
  const lift = f.sim.bastion.cutNewConnections({ podId: f.podId, afterBytes: 300 });
  try {
    await assert.rejects(wfs.writeFile(p, randomBytes(4 * 1024 * 1024), { create: true, overwrite: true }), (e: unknown) => {
      assert.ok(e instanceof WorkspaceFsError, String(e));
      assert.equal(e.kind, 'Unavailable', e.message);
      assert.ok(e.message.includes(f.podId) && e.message.includes(p), e.message);
      assert.match(e.message, /Not saved: the file in the pod is unchanged/);
      assert.match(e.message, /connection to the pod was lost/, 'a cut connection is not reported as a refusal');
      return true;
    });
  } finally {
    lift();
  }
  assert.equal(fs.readFileSync(f.host(p), 'utf8'), 'old content\n');
  assert.ok(f.sim.bastion.counters.connections >= 3, 'the write was retried on a fresh connection');
  // The next save works, and the listing never shows our temp files.
  await wfs.writeFile(p, new TextEncoder().encode('new\n'), { create: true, overwrite: true });
  assert.equal(fs.readFileSync(f.host(p), 'utf8'), 'new\n');
  assert.deepEqual(
    (await f.fs().readDirectory('/workspace')).map(([n]) => n).filter((n) => n.includes('model')),
    ['model.py'],
  );
});

test('a save whose rename took effect but whose answer was lost says it may or may not have landed; the file is whole', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const p = '/workspace/model.py';
  fs.writeFileSync(f.host(p), 'old content\n');
  const next = randomBytes(4 * 1024 * 1024);
  await wfs.stat(p);
  // The pod renames the temp file over model.py, its answer never arrives; every retry is cut.
  f.sim.bastion.dropConnections({ podId: f.podId, afterRequest: 'posix-rename@openssh.com' });
  const lift = f.sim.bastion.cutNewConnections({ podId: f.podId, afterBytes: 300 });
  try {
    await assert.rejects(wfs.writeFile(p, next, { create: true, overwrite: true }), (e: unknown) => {
      assert.ok(e instanceof WorkspaceFsError, String(e));
      assert.equal(e.kind, 'Unavailable', e.message);
      assert.ok(e.message.includes(f.podId) && e.message.includes(p), e.message);
      assert.match(e.message, /may or may not have landed/);
      assert.match(e.message, /either the old or the new content, whole/);
      return true;
    });
  } finally {
    lift();
  }
  // What the protocol promises: old or new, whole, never truncated or mixed — here the rename had taken effect.
  assert.equal(sha(fs.readFileSync(f.host(p))), sha(next));
  assert.equal((await wfs.stat(p)).size, next.length);
});

test('a save whose rename was acknowledged is saved even when the stat after it is cut', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const p = '/workspace/model.py';
  fs.writeFileSync(f.host(p), 'old content\n');
  const next = randomBytes(1024 * 1024);
  await wfs.stat(p);
  // The rename's answer arrives; the connection is cut at the next answer (the stat's), and every retry too.
  f.sim.bastion.dropConnections({ podId: f.podId, afterRequest: 'posix-rename@openssh.com', answersFirst: 1 });
  const lift = f.sim.bastion.cutNewConnections({ podId: f.podId, afterBytes: 300 });
  try {
    await wfs.writeFile(p, next, { create: true, overwrite: true });
  } finally {
    lift();
  }
  assert.equal(sha(fs.readFileSync(f.host(p))), sha(next));
  const st = await wfs.stat(p); // asked again: the cache does not hold the pre-save stat
  assert.equal(st.size, next.length);
  assert.equal(Buffer.from(await wfs.readFile(p)).length, next.length);
});

test('a 50 MB file round-trips byte-identical (write atomically, read streamed)', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const data = randomBytes(50 * 1024 * 1024);
  const t0 = Date.now();
  await wfs.writeFile('/workspace/big.bin', data, { create: true, overwrite: false });
  const t1 = Date.now();
  assert.equal(sha(fs.readFileSync(f.host('/workspace/big.bin'))), sha(data));
  const back = await f.fs().readFile('/workspace/big.bin');
  const t2 = Date.now();
  assert.equal(back.length, data.length);
  assert.equal(sha(back), sha(data));
  t.diagnostic(`50 MB: write ${t1 - t0} ms, read ${t2 - t1} ms`);
});

test('after the pod ends: reads come from the cache read-only, saves fail with "pod ended: <reason>"', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  fs.mkdirSync(f.host('/workspace/src'));
  fs.writeFileSync(f.host('/workspace/src/train.py'), 'print(1)\n');
  const listing = await wfs.readDirectory('/workspace/src');
  assert.equal((await wfs.stat('/workspace/src/train.py')).readonly, false);
  assert.equal(Buffer.from(await wfs.readFile('/workspace/src/train.py')).toString(), 'print(1)\n');
  const ended: string[] = [];
  wfs.onDidEnd((r) => ended.push(r));

  await f.sim.endPod(f.podId, 'out_of_credits');
  await waitUntil('the pod to end', async () => (await f.client.getPod(f.podId)).phase !== 'Running');
  await assert.rejects(
    wfs.writeFile('/workspace/src/train.py', new TextEncoder().encode('print(2)\n'), { create: true, overwrite: true }),
    (e: unknown) => {
      assert.ok(e instanceof WorkspaceFsError && e.kind === 'PodEnded', String(e));
      assert.match(e.message, /^pod ended: Ended: out of credits/);
      assert.ok(e.message.includes(f.podId));
      return true;
    },
  );
  assert.deepEqual(ended, ['Ended: out of credits']);
  // Browsable from the cache, read-only, long after the cache would normally have expired.
  assert.deepEqual(await wfs.readDirectory('/workspace/src'), listing);
  const st = await wfs.stat('/workspace/src/train.py');
  assert.equal(st.readonly, true);
  assert.equal(Buffer.from(await wfs.readFile('/workspace/src/train.py')).toString(), 'print(1)\n');
  // What was never seen is not invented.
  await assert.rejects(wfs.readDirectory('/workspace/other'), (e: unknown) => e instanceof WorkspaceFsError && e.kind === 'PodEnded');
  await assert.rejects(
    wfs.delete('/workspace/src/train.py', { recursive: false }),
    (e: unknown) => e instanceof WorkspaceFsError && e.kind === 'PodEnded',
  );
  await assert.rejects(wfs.createDirectory('/workspace/x'), (e: unknown) => e instanceof WorkspaceFsError && e.kind === 'PodEnded');
});

test('a listing cut by a dropped connection is retried on a fresh one and comes back whole', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const dir = f.host('/workspace/many');
  fs.mkdirSync(dir);
  for (let i = 0; i < 1000; i++) fs.writeFileSync(`${dir}/file-with-a-long-name-${i}.txt`, '');
  const wfs = f.fs();
  await wfs.stat('/workspace'); // session open
  const before = f.sim.bastion.counters.connections;
  f.sim.bastion.dropConnections({ podId: f.podId, afterBytes: 4000 }); // mid-READDIR reply
  const entries = await wfs.readDirectory('/workspace/many');
  assert.equal(entries.length, 1000);
  assert.ok(f.sim.bastion.counters.connections > before, 'reconnected');
});

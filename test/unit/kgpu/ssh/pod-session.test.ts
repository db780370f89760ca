/**
 * PodSession (src/kgpu/ssh/pod-session.ts): the one owner of a pod's connector, exec, SFTP, agent
 * and retry policy — against a real pod behind the simulator's bastion.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PodSession } from '../../../../src/kgpu/ssh/pod-session';
import type { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { backoffReconnectPolicy } from '../../../../src/kgpu/ssh/reconnect-policy';
import { ConnectionLostError } from '../../../../src/kgpu/ssh/ssh-errors';
import { WorkspaceFs } from '../../../../src/kgpu/fs/workspace-fs';
import type { PathChange } from '../../../../src/kgpu/util/change-coalescer';
import { startPodFixture, type PodFixture } from './pod-fixture';

let f: PodFixture;
before(async () => {
  f = await startPodFixture();
});
after(async () => {
  await f.stop();
});

function session(built: PodConnector[] = []): PodSession {
  return new PodSession({
    podId: f.podId,
    createConnector: async () => {
      const c = f.connector();
      built.push(c);
      return c;
    },
  });
}

test('one connector, SFTP and agent per session, shared by every user; a reset builds new ones, a dispose closes all', async () => {
  const built: PodConnector[] = [];
  const s = session(built);
  try {
    const [a, b] = await Promise.all([s.connector(), s.connector()]);
    assert.equal(a, b, 'concurrent users share one connector');
    assert.equal(built.length, 1);
    const r = await s.commands.exec('echo "$KGPU_RENT_ID"');
    assert.equal(r.stdout.toString().trim(), f.podId);
    const sftp1 = await s.sftp();
    assert.equal((await s.sftp()).rfs, sftp1.rfs, 'one SFTP');
    assert.equal(s.agent, s.agent, 'one agent client');
    const agent = s.agent;
    const echo = await agent.openStream({ kind: 'process', argv: ['echo', 'through the agent'] });
    const chunks: Buffer[] = [];
    for await (const c of echo as AsyncIterable<Buffer>) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'through the agent\n');

    // The key or the settings changed: the next use connects again (a new connector and SFTP).
    const closed = new Promise<void>((resolve) => agent.onDidChangeState((st) => st === 'idle' && resolve()));
    s.resetConnections();
    await closed; // the agent was closed
    const sftp2 = await s.sftp();
    assert.equal(built.length, 2);
    assert.notEqual(sftp2.rfs, sftp1.rfs);
    assert.equal(sftp2.connector, built[1]);
    assert.equal((await s.commands.exec('true')).exitCode, 0);
    await assert.rejects(sftp1.rfs.stat('/workspace'), /disposed/, 'the old SFTP was closed with its connector');
  } finally {
    s.dispose();
  }
  assert.equal(s.isDisposed, true);
  await assert.rejects(s.connector(), /closed/);
  assert.throws(() => s.agent, /closed/);
});

test('a failed connector build is not kept: the next use tries again', async () => {
  let calls = 0;
  const s = new PodSession({
    podId: f.podId,
    createConnector: async () => {
      if (++calls === 1) throw new Error('no key yet');
      return f.connector();
    },
  });
  try {
    await assert.rejects(s.connector(), /no key yet/);
    assert.equal((await s.commands.exec('true')).exitCode, 0);
    assert.equal(calls, 2);
  } finally {
    s.dispose();
  }
});

test('onDidChangePaths: a file changed behind the file system (an upload) is forgotten from its cache and reported to the editor', async () => {
  const s = session();
  const wfs = new WorkspaceFs({
    podId: f.podId,
    connector: () => s.connector(),
    sftp: () => s.sftp(),
    onDidChangePaths: s.onDidChangePaths,
    cacheTtlMs: 600_000, // answers would be reused for 10 minutes: only the notice can refresh them
    debounceMs: 1,
  });
  try {
    fs.writeFileSync(path.join(f.hostDir, 'notes.txt'), 'one');
    assert.equal((await wfs.stat('/workspace/notes.txt')).size, 3);
    // Changed in the pod, not through the file system: the cached answer stands…
    await s.commands.exec('printf "one two three" > /workspace/notes.txt');
    assert.equal((await wfs.stat('/workspace/notes.txt')).size, 3);
    // …until the session says so.
    const reported = new Promise<PathChange[]>((resolve) => wfs.onDidChange((c) => resolve(c)));
    s.notifyPathsChanged([{ type: 'changed', path: '/workspace/notes.txt' }]);
    assert.deepEqual(
      (await reported).map((c) => c.path),
      ['/workspace/notes.txt'],
    );
    assert.equal((await wfs.stat('/workspace/notes.txt')).size, 13);
    // The file system uses the session's SFTP and leaves it open when it goes.
    const { rfs } = await s.sftp();
    wfs.dispose();
    assert.equal((await rfs.stat('/workspace/notes.txt')).size, 13);
  } finally {
    wfs.dispose();
    s.dispose();
  }
});

test("a bulk transfer over the session's SFTP resumes after a dropped connection, waiting as the session's policy says", async () => {
  const base = backoffReconnectPolicy();
  const waits: number[] = [];
  const s = new PodSession({
    podId: f.podId,
    createConnector: async () => f.connector(),
    reconnect: { ...base, delayMs: (n) => (waits.push(n), base.delayMs(n)) },
  });
  const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-session-dl-')), 'big.bin');
  try {
    const content = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < content.length; i++) content[i] = (i * 2654435761) >>> 24;
    fs.writeFileSync(path.join(f.hostDir, 'big.bin'), content);
    const { rfs } = await s.sftp();
    let armed = false;
    const r = await rfs.download('/workspace/big.bin', local, {
      onProgress: () => {
        if (armed) return;
        armed = true;
        f.bastion.dropConnections({ podId: f.podId, afterBytes: 200_000 }); // cut the download mid-file
      },
    });
    assert.ok(r.resumes >= 1, 'the download was cut and resumed');
    assert.ok(waits.length >= 1, "it waited as the session's policy said");
    assert.ok(fs.readFileSync(local).equals(content), 'byte-identical');
  } finally {
    s.dispose();
    fs.rmSync(path.dirname(local), { recursive: true, force: true });
  }
});

test('the one retry policy: transient SSH errors only, a growing capped wait, the attempts bounded', () => {
  const policy = backoffReconnectPolicy({ random: () => 1 });
  assert.equal(policy.isTransient(new ConnectionLostError('the test')), true);
  assert.equal(policy.isTransient(new Error('Permission denied (publickey)')), false);
  const waits = [1, 2, 3, 4, 5, 6, 7].map((n) => policy.delayMs(n));
  assert.deepEqual(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
  assert.equal(policy.retryDelayMs(1, new Error('Permission denied (publickey)')), undefined);
  assert.equal(policy.retryDelayMs(7, new ConnectionLostError('the test')), 2000);
  assert.equal(policy.retryDelayMs(8, new ConnectionLostError('the test')), undefined);
});

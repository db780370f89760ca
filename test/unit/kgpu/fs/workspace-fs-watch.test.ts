/**
 * Watching the pod: a file a job creates shows up as an event without any refresh — through
 * inotifywait in the pod, and through polling when that is not available — and the watch stops
 * (its connection closes) when disposed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { PathChange } from '../../../../src/kgpu/fs/workspace-fs';
import { exec } from '../../../../src/kgpu/ssh/ssh-exec';
import { startWsFixture, waitUntil, type WsFixture } from './workspace-fs-fixture';

/** Start a detached job in the pod the contract's way (setsid -f), writing a checkpoint and a log. */
async function runJob(f: WsFixture, script: string): Promise<void> {
  const r = await exec(f.connector, `setsid -f sh -c ${JSON.stringify(script).replace(/\$/g, '\\$')} </dev/null >/dev/null 2>&1`);
  assert.equal(r.exitCode, 0, r.stderr.toString());
}

for (const mode of ['inotify', 'poll'] as const) {
  test(`watch (${mode}): files a running job creates, changes and deletes are reported, coalesced`, async (t) => {
    const f = await startWsFixture();
    t.after(() => f.stop());
    // ownEchoMs 0: every echo of our own save counts as late (as on a loaded machine) and is
    // recognised by the pod's file still being what we wrote, not by how soon it came.
    const wfs = f.fs({ watchMode: mode, pollIntervalMs: 100, debounceMs: 30, ownEchoMs: 0 });
    fs.mkdirSync(f.host('/workspace/out'));
    // Listed before the job runs: the cache must not hide the new file afterwards.
    assert.deepEqual(await wfs.readDirectory('/workspace/out'), []);
    const batches: PathChange[][] = [];
    wfs.onDidChange((c) => batches.push(c));
    const w = wfs.watch('/workspace', { recursive: true });
    assert.equal(await w.ready, mode);
    const before = f.sim.bastion.counters.connections;

    await runJob(f, 'echo epoch1 > /workspace/out/ckpt-1.pt; mkdir -p /workspace/out/logs; echo step > /workspace/out/logs/train.log');
    const all = (): PathChange[] => batches.flat();
    await waitUntil('the checkpoint event', () => all().some((c) => c.path === '/workspace/out/ckpt-1.pt' && c.type === 'created'));
    await waitUntil('the nested log event', () => all().some((c) => c.path === '/workspace/out/logs/train.log'));
    // The explorer's next listing shows it (the event dropped the cached listing).
    assert.deepEqual((await wfs.readDirectory('/workspace/out')).map(([n]) => n).sort(), ['ckpt-1.pt', 'logs']);

    batches.length = 0;
    await runJob(f, 'echo more >> /workspace/out/logs/train.log; rm /workspace/out/ckpt-1.pt');
    await waitUntil(
      'the change and the delete',
      () =>
        all().some((c) => c.path === '/workspace/out/logs/train.log' && c.type === 'changed') &&
        all().some((c) => c.path === '/workspace/out/ckpt-1.pt' && c.type === 'deleted'),
    );
    if (mode === 'inotify') {
      // Events arrive merged: one entry per path per batch.
      for (const b of batches) assert.equal(new Set(b.map((c) => c.path)).size, b.length);
      // Folders the watch excludes (.kgpu: job logs) produce nothing.
      batches.length = 0;
      await runJob(f, 'mkdir -p /workspace/.kgpu/jobs/1 && echo x > /workspace/.kgpu/jobs/1/log && echo y > /workspace/out/marker');
      await waitUntil('the marker', () => all().some((c) => c.path === '/workspace/out/marker'));
      assert.ok(!all().some((c) => c.path.startsWith('/workspace/.kgpu/')), JSON.stringify(all()));
      assert.equal(f.sim.bastion.counters.connections - before, 3, 'the watch holds one connection; only the three jobs connected');
    }

    // Our own saves are announced once, not echoed back by the watch.
    batches.length = 0;
    await wfs.writeFile('/workspace/out/notes.md', new TextEncoder().encode('# notes\n'), { create: true, overwrite: false });
    await runJob(f, 'echo z > /workspace/out/after');
    await waitUntil('the later job file', () => all().some((c) => c.path === '/workspace/out/after'));
    assert.equal(all().filter((c) => c.path === '/workspace/out/notes.md').length, 1, JSON.stringify(all()));
    assert.ok(!all().some((c) => c.path.includes('.kgpu-')), 'temp files of the atomic save are never reported');

    w.dispose();
    batches.length = 0;
    if (mode === 'inotify') {
      // The watcher's process in the pod goes away with its channel.
      await waitUntil('inotifywait to exit in the pod', async () => {
        const r = await exec(f.connector, 'pgrep -x inotifywait || true');
        return r.stdout.toString().trim() === '';
      });
    }
    await runJob(f, 'echo late > /workspace/out/late');
    await waitUntil('the late file on disk', () => fs.existsSync(f.host('/workspace/out/late')));
    await new Promise((r) => setTimeout(r, 300)); // longer than a poll interval + debounce: nothing may arrive
    assert.deepEqual(all(), []);
  });
}

test('watch (inotify) survives a dropped connection: it reconnects and keeps reporting', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs({ debounceMs: 30 });
  const seen: PathChange[] = [];
  wfs.onDidChange((c) => seen.push(...c));
  const w = wfs.watch('/workspace', { recursive: true });
  assert.equal(await w.ready, 'inotify');
  const before = f.sim.bastion.counters.connections;
  f.sim.bastion.dropConnections({ podId: f.podId });
  // After reconnecting the root is reported changed (events may have been missed meanwhile).
  await waitUntil(
    'the watch to reconnect',
    () => seen.some((c) => c.path === '/workspace' && c.type === 'changed') && f.sim.bastion.counters.connections > before,
  );
  await runJob(f, 'echo 1 > /workspace/after-drop.txt');
  await waitUntil('an event after the reconnect', () => seen.some((c) => c.path === '/workspace/after-drop.txt'));
  w.dispose();
});

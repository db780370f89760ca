/**
 * Pipelined listing (sftp-readdir.ts, issue 25): every entry exactly once, whatever the size
 * (sftp-server answers 100 names per READDIR; the waves send 16, 32, … at once), in the round
 * trips the waves promise — OPENDIR + one wave for up to 1 600 entries — not one per batch.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RemoteFs } from '../../../../src/kgpu/fs/remote-fs';
import { startPodFixture, type PodFixture } from '../ssh/pod-fixture';

let pod: PodFixture;
let rfs: RemoteFs;
before(async () => {
  pod = await startPodFixture();
  rfs = new RemoteFs(pod.connector());
});
after(async () => {
  rfs?.dispose();
  await pod?.stop();
});

for (const [n, maxRoundTrips] of [
  [0, 2],
  [100, 2],
  [1000, 2],
  [2500, 3],
] as const) {
  test(`readdir of ${n} entries: each exactly once, in ${maxRoundTrips} round trips or fewer`, async () => {
    const dir = path.join(pod.hostDir, `list-${n}`);
    fs.mkdirSync(dir);
    const want = Array.from({ length: n }, (_, i) => `f-${String(i).padStart(5, '0')}`);
    for (const name of want) fs.writeFileSync(path.join(dir, name), name);
    const entries = await rfs.readdir(`/workspace/list-${n}`);
    assert.deepEqual(entries.map((e) => e.name).sort(), want);
    if (n > 0) assert.equal(entries.find((e) => e.name === want[n - 1])?.stat.size, want[n - 1].length);
    assert.ok(rfs.readdirRoundTrips <= maxRoundTrips, `${rfs.readdirRoundTrips} round trips`);
  });
}

test('readdir of a missing folder fails with ENOENT and leaves the session usable', async () => {
  await assert.rejects(rfs.readdir('/workspace/no-such-dir'), (e: unknown) => (e as { code?: string }).code === 'ENOENT');
  assert.ok((await rfs.readdir('/workspace')).length > 0);
});

/**
 * Upload and download beside the editor: folders over the bastion, big files through a transit
 * object (mint, PUT, curl in the pod, delete), cancellation leaving no partial file under a final
 * name, and downloads through sync's pull.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { uploadToPod } from '../../../../src/kgpu/transfer/pod-upload';
import { downloadFromPod } from '../../../../src/kgpu/transfer/pod-download';
import type { TransferTotals } from '../../../../src/kgpu/transfer/transfer-progress';
import { startWsFixture } from './workspace-fs-fixture';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function localTree(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-upload-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('upload: a folder over the bastion and a big file through a transit object, with progress; download back', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const local = localTree(t);
  fs.mkdirSync(path.join(local, 'data set/sub'), { recursive: true });
  fs.writeFileSync(path.join(local, 'data set/a.csv'), 'x,y\n1,2\n');
  fs.writeFileSync(path.join(local, "data set/sub/it's $(x).txt"), 'hostile');
  const big = randomBytes(3 * 1024 * 1024 + 17);
  fs.writeFileSync(path.join(local, 'weights.bin'), big);
  const listed = await wfs.readDirectory('/workspace'); // cached before the upload
  assert.deepEqual(listed, []);

  const progress: TransferTotals[] = [];
  const { connector, rfs } = await wfs.connection();
  const result = await uploadToPod([path.join(local, 'data set'), path.join(local, 'weights.bin')], '/workspace', {
    connector,
    rfs,
    transit: { client: f.client, thresholdBytes: 1024 * 1024 },
    onProgress: (p) => progress.push(p),
  });
  assert.equal(result.files, 3);
  assert.equal(result.viaTransit, 1);
  assert.equal(result.bytes, big.length + 8 + 7);
  assert.equal(sha(fs.readFileSync(f.host('/workspace/weights.bin'))), sha(big));
  assert.equal(fs.readFileSync(f.host("/workspace/data set/sub/it's $(x).txt"), 'utf8'), 'hostile');
  assert.deepEqual(fs.readdirSync(f.hostDir).sort(), ['data set', 'weights.bin'], 'no temp files left');
  // The transit object was minted, uploaded to, and deleted.
  const objects = [...f.sim.objects.objects.values()];
  assert.equal(objects.length, 1);
  assert.equal(objects[0].state, 'deleted');
  assert.deepEqual(await f.client.listObjects(), []);
  const last = progress.at(-1)!;
  assert.deepEqual([last.bytesDone, last.bytesTotal, last.filesDone, last.filesTotal], [result.bytes, result.bytes, 3, 3]);
  assert.ok(
    progress.some((p) => p.bytesDone > 0 && p.bytesDone < result.bytes),
    'intermediate progress was reported',
  );
  // The file system learns about it and lists it at once.
  wfs.noteChanged(result.changes);
  assert.deepEqual((await wfs.readDirectory('/workspace')).map(([n]) => n).sort(), ['data set', 'weights.bin']);

  // Download both back.
  const back = localTree(t);
  const got: TransferTotals[] = [];
  const d = await downloadFromPod(connector, ['/workspace/data set', '/workspace/weights.bin'], back, { onProgress: (p) => got.push(p) });
  assert.equal(d.files, 3);
  assert.equal(sha(fs.readFileSync(path.join(back, 'weights.bin'))), sha(big));
  assert.equal(fs.readFileSync(path.join(back, "data set/sub/it's $(x).txt"), 'utf8'), 'hostile');
  assert.ok(got.length > 0);
  assert.deepEqual(fs.readdirSync(back).sort(), ['data set', 'weights.bin']);
});

test('cancelling an upload or a download leaves no partial file under its final name', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const wfs = f.fs();
  const local = localTree(t);
  const big = randomBytes(40 * 1024 * 1024);
  fs.writeFileSync(path.join(local, 'big.bin'), big);
  const { connector, rfs } = await wfs.connection();

  for (const transit of [undefined, { client: f.client, thresholdBytes: 1024 }]) {
    const ctrl = new AbortController();
    await assert.rejects(
      uploadToPod([path.join(local, 'big.bin')], '/workspace', {
        connector,
        rfs,
        transit,
        signal: ctrl.signal,
        onProgress: (p) => {
          if (p.bytesDone > 1024 * 1024) ctrl.abort();
        },
      }),
      (e: unknown) => e instanceof Error && /cancel|abort/i.test(`${e.name} ${e.message}`),
    );
    assert.equal(fs.existsSync(f.host('/workspace/big.bin')), false, `transit=${Boolean(transit)}`);
  }
  assert.deepEqual(await f.client.listObjects(), [], 'the transit object was deleted after the cancel');

  fs.writeFileSync(f.host('/workspace/remote.bin'), big);
  const back = localTree(t);
  const ctrl = new AbortController();
  await assert.rejects(
    downloadFromPod(connector, ['/workspace/remote.bin'], back, {
      signal: ctrl.signal,
      onProgress: (p) => {
        if (p.bytesDone > 1024 * 1024) ctrl.abort();
      },
    }),
    (e: unknown) => e instanceof Error,
  );
  assert.deepEqual(fs.readdirSync(back), [], 'nothing left locally');
});

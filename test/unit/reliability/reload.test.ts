/**
 * A window reload / extension-host restart in the middle of an upload: the process holding the
 * connection is gone without any clean-up (the connector is destroyed, no abort signal). The
 * target name never holds a partial file, the leftover temp file is hidden from the explorer, and
 * the same upload started again after the "reload" completes byte-identical and leaves nothing
 * behind. (A reload during a running job — a new JobRunner finds it and resumes its log at the
 * stored offset — is in test/unit/kgpu/jobs/run-jobs.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { uploadToPod } from '../../../src/kgpu/transfer/pod-upload';
import { isTempName } from '../../../src/kgpu/fs/workspace-fs';
import { sha, startFleet, waitFor } from './fleet-fixture';

test('reload during an upload: no partial file under the target name, temp hidden, the re-run upload completes and cleans up', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const local = path.join(f.tmp('up'), 'dataset.bin');
  const data = randomBytes(24 * 1024 * 1024);
  fs.writeFileSync(local, data);
  const target = '/workspace/data/dataset.bin';

  // Before the reload: the window's WorkspaceFs and its connector.
  const before = pod.fs();
  await before.createDirectory('/workspace/data');
  const first = await before.connection();
  let sent = 0;
  const upload = uploadToPod([local], '/workspace/data', { ...first, onProgress: (p) => (sent = p.bytesDone) });
  const outcome = upload.then(
    () => 'completed',
    (e: unknown) => e,
  );
  // An upload that fails before a quarter is sent says why, instead of a timeout.
  await Promise.race([
    waitFor('a quarter of the upload', () => sent >= data.length / 4),
    outcome.then((r) => {
      if (sent < data.length / 4) throw new Error(`the upload ended after ${sent} bytes, before the cut: ${String(r)}`);
    }),
  ]);
  first.connector.dispose(); // the extension host goes away: sockets closed, no clean-up ran
  before.dispose();
  const r = await outcome;
  assert.notEqual(r, 'completed', 'the upload was cut');
  assert.ok(!fs.existsSync(pod.host(target)), 'nothing under the target name');
  const leftovers = fs.readdirSync(pod.host('/workspace/data'));
  for (const n of leftovers) assert.ok(isTempName(n), `only our hidden temp file is left: ${n}`);

  // After the reload: a new WorkspaceFs does not show the temp file; the upload again completes.
  const after = pod.fs();
  assert.deepEqual(await after.readDirectory('/workspace/data'), [], 'the explorer shows no partial file');
  const again = await after.connection();
  const done = await uploadToPod([local], '/workspace/data', again);
  assert.equal(done.files, 1);
  assert.equal(sha(fs.readFileSync(pod.host(target))), sha(data), 'byte-identical');
  assert.deepEqual(fs.readdirSync(pod.host('/workspace/data')), ['dataset.bin'], 'the temp file was used up or removed');
  t.diagnostic(`cut after ${sent} of ${data.length} bytes; left ${leftovers.length} temp file(s) until the re-run`);
});

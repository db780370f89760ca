/** Every kgpu endpoint's happy path through KgpuClient, against the simulator. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { apiFixture, throwawayEd25519 } from './api-fixture';
import { KgpuApiError, KgpuNetworkError, KgpuUploadError, isLivePod, type GpuModel, type Pod } from '../../../../src/kgpu/index';

test('gpu-models is public: no token is sent or needed', async (t) => {
  const { client, tokenAsks } = await apiFixture(t);
  const models: GpuModel[] = await client.listGpuModels();
  assert.deepEqual(
    models.map((m) => [m.gpu_model, m.price_per_hour_credits]),
    [
      ['rtx3080', 300],
      ['rtx3090', 600],
      ['rtx4090', 1000],
      ['rtx5090', 1400],
      ['v100', 600],
    ],
  );
  for (const m of models) assert.ok(m.free <= m.total);
  assert.deepEqual(tokenAsks, { normal: 0, forced: 0 });
});

test('me, balance and cluster', async (t) => {
  const { client } = await apiFixture(t, { credits: 12_345 });
  const me = await client.getMe();
  assert.equal(me.credits, 12_345);
  assert.equal(me.quota.max_gpus, 4);
  assert.equal(typeof me.user_id, 'string');
  assert.equal(typeof me.email, 'string');
  assert.equal(me.status, 'approved');
  assert.deepEqual(await client.getBalance(), { credits: 12_345 });
  const cluster = await client.getCluster();
  assert.ok(cluster.nodes.length >= 5);
  for (const n of cluster.nodes) {
    assert.equal(typeof n.hostname, 'string');
    assert.equal(n.busy, 0);
  }
});

test('rent (minted key), list, get, rotate key, release', async (t) => {
  const { sim, client } = await apiFixture(t);
  const rent = await client.rent({ name: 'train', gpu_model: 'rtx3090', gpu_count: 2 });
  assert.match(rent.pod_id, /^gpu-train-\d+-[0-9a-f]+$/);
  assert.equal(rent.gpu_model, 'rtx3090');
  assert.equal(rent.recovered, false);
  assert.match(rent.client_request_id, /^[0-9a-f]{16}$/);
  assert.ok(rent.balance_after_precheck < 100_000);
  assert.match(rent.ssh_access?.private_key ?? '', /BEGIN OPENSSH PRIVATE KEY/);
  assert.match(rent.ssh_access?.fingerprint ?? '', /^SHA256:/);
  assert.equal(rent.ssh_access?.ssh_user, 'kgpu');

  const pods: Pod[] = await client.listPods();
  assert.deepEqual(
    pods.map((p) => p.pod_id),
    [rent.pod_id],
  );
  const pod = await client.getPod(rent.pod_id);
  assert.equal(pod.name, 'train');
  assert.equal(pod.gpu_count, 2);
  assert.ok(isLivePod(pod));
  assert.equal(pod.ssh_fingerprint, rent.ssh_access?.fingerprint);
  // The idempotency marker travels in the pod's env (the simulator keeps it).
  assert.equal(sim.state.pods.get(rent.pod_id)?.env?.KGPU_CLIENT_REQUEST_ID, rent.client_request_id);

  // PATCH with our own key: fingerprint only, the private half never crosses the wire.
  const keys = throwawayEd25519();
  const pinned = await client.rotateSshKey(rent.pod_id, { ssh_pubkey: keys.public });
  assert.equal(pinned.ssh_access.private_key, undefined);
  assert.notEqual(pinned.ssh_access.fingerprint, rent.ssh_access?.fingerprint);
  // PATCH with an empty body: a freshly minted pair.
  const minted = await client.rotateSshKey(rent.pod_id);
  assert.match(minted.ssh_access.private_key ?? '', /BEGIN OPENSSH PRIVATE KEY/);
  assert.equal((await client.getPod(rent.pod_id)).ssh_fingerprint, minted.ssh_access.fingerprint);

  const released = await client.release(rent.pod_id);
  assert.equal(released.pod_id, rent.pod_id);
  assert.equal(released.end_reason, 'returned');
  // Idempotent, and the ended pod stays readable with its end_reason.
  await client.release(rent.pod_id);
  await sim.settled();
  const ended = await client.getPod(rent.pod_id);
  assert.ok(ended.phase === 'Ended' || ended.phase === 'Terminating');
  assert.equal(ended.end_reason, 'returned');
});

test('rent with our public key returns a fingerprint only', async (t) => {
  const { client } = await apiFixture(t);
  const keys = throwawayEd25519();
  const rent = await client.rent({ gpu_model: 'v100', gpu_count: 0, ssh_pubkey: keys.public });
  assert.equal(rent.ssh_access?.private_key, undefined);
  assert.match(rent.ssh_access?.fingerprint ?? '', /^SHA256:/);
  assert.equal(rent.price_per_hour_credits, 600); // a 0-GPU pod bills the class rate
});

test('exec runs a command in a ready pod', async (t) => {
  const { client } = await apiFixture(t);
  const rent = await client.rent({ gpu_model: 'rtx3080' });
  await client.waitUntilReady(rent.pod_id, { intervalMs: 20, pollFloorMs: 0 });
  const r = await client.exec(rent.pod_id, { cmd: ['sh', '-c', 'cat; echo " $0"', 'argv0'], stdin: 'from stdin', timeout_seconds: 10 });
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout, 'from stdin argv0\n');
  assert.equal(r.truncated, false);
  assert.equal(typeof r.duration_ms, 'number');
  const failing = await client.exec(rent.pod_id, { cmd: ['sh', '-c', 'echo oops >&2; exit 3'] });
  assert.equal(failing.exit_code, 3);
  assert.equal(failing.stderr, 'oops\n');
});

test('transit objects: create, upload bytes / a file / a stream, list, get, download, delete (idempotent)', async (t) => {
  const { client } = await apiFixture(t);
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-obj-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const data = Buffer.from('hello transit object\n'.repeat(1000));
  const created = await client.createObject('dataset', { sizeBytes: data.length });
  assert.match(created.put_url, /^http:\/\/127\.0\.0\.1:\d+\//);
  assert.ok(Date.parse(created.expires_at) > Date.now());
  const progress: number[] = [];
  await client.uploadToPutUrl(created.put_url, data, data.length, { onProgress: (sent) => progress.push(sent) });
  assert.equal(progress.at(-1), data.length);

  const got = await client.getObject(created.object_id);
  assert.equal(got.label, 'dataset');
  assert.equal(got.size_bytes, data.length);
  assert.ok(got.get_url);
  const dl = await request(got.get_url!);
  assert.equal(dl.statusCode, 200);
  assert.deepEqual(Buffer.from(await dl.body.arrayBuffer()), data);

  // From a file, and from a stream.
  const file = join(dir, 'blob.bin');
  const blob = Buffer.alloc(300_000, 7);
  writeFileSync(file, blob);
  const o2 = await client.createObject('file');
  await client.uploadToPutUrl(o2.put_url, { filePath: file }, blob.length);
  const o3 = await client.createObject();
  await client.uploadToPutUrl(o3.put_url, Readable.from([blob.subarray(0, 1000), blob.subarray(1000)]), blob.length);
  for (const id of [o2.object_id, o3.object_id]) {
    const g = await client.getObject(id);
    const body = Buffer.from(await (await request(g.get_url!)).body.arrayBuffer());
    assert.deepEqual(body, readFileSync(file));
  }

  const list = await client.listObjects();
  assert.deepEqual(new Set(list.map((o) => o.object_id)), new Set([created.object_id, o2.object_id, o3.object_id]));

  await client.deleteObject(created.object_id);
  await client.deleteObject(created.object_id);
  const gone = await client.getObject(created.object_id).catch((e: unknown) => e);
  assert.ok(gone instanceof KgpuApiError);
  assert.equal(gone.status, 404);
  assert.match(gone.userMessage, new RegExp(`Transit object ${created.object_id} was not found.*\\(request [0-9a-f]{16}\\)`));
});

test('an altered presigned URL is refused without leaking the signature', async (t) => {
  const { client } = await apiFixture(t);
  const created = await client.createObject('x');
  const url = new URL(created.put_url);
  const sig = url.searchParams.get('X-Amz-Signature') ?? '';
  assert.ok(sig.length > 10);
  url.searchParams.set(
    'X-Amz-Signature',
    sig.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')),
  );
  const err = await client.uploadToPutUrl(url.toString(), Buffer.from('abc'), 3).catch((e: unknown) => e);
  assert.ok(err instanceof KgpuUploadError, String(err));
  assert.equal(err.status, 403);
  assert.doesNotMatch(err.message, new RegExp(sig.slice(1)));
  assert.match(err.message, /create a new transit object and upload again/);
});

test('upload: an inactivity timeout (not a total one) and cancellation', async (t) => {
  const { sim, client } = await apiFixture(t);
  const created = await client.createObject('slow');
  sim.faults.addLatency('PUT', '/_objects/**', 3_000, { count: 1 });
  const e = await client.uploadToPutUrl(created.put_url, Buffer.from('abc'), 3, { timeoutMs: 200 }).catch((x: unknown) => x);
  assert.ok(e instanceof KgpuNetworkError && e.kind === 'timeout', String(e));
  // 'timeout' itself proves it gave up before the 3 s answer (which would have succeeded).
  assert.doesNotMatch(String(e), /X-Amz-Signature/);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(client.uploadToPutUrl(created.put_url, Buffer.from('abc'), 3, { signal: ac.signal }), { name: 'AbortError' });
  // A local file that cannot be read is that error, not a network one.
  const missing = await client.uploadToPutUrl(created.put_url, { filePath: '/nonexistent/kgpu-upload' }, 3).catch((x: unknown) => x);
  assert.equal((missing as NodeJS.ErrnoException).code, 'ENOENT');
  // A fresh attempt goes through.
  await client.uploadToPutUrl(created.put_url, Buffer.from('abc'), 3);
  assert.equal((await client.getObject(created.object_id)).size_bytes, 3);
});

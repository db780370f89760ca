// Simulator REST: transit objects — mint, presigned PUT/GET served by the simulator (S3-style
// signature checks and XML errors), list/get/delete, 24 h expiry (410), quotas on stored bytes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertError, call, rentReady, startSim, type Res } from './rest-fixture';

/** Raw HTTP (fetch cannot omit Content-Length or send chunked PUTs the way curl -T - does). */
function raw(
  url: string,
  method: string,
  body?: Buffer,
  headers: Record<string, string> = {},
  chunked = false,
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { ...(body && !chunked ? { 'Content-Length': String(body.length) } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('latin1'), headers: res.headers }));
      },
    );
    req.on('error', reject);
    if (body) req.end(body);
    else req.end();
  });
}

const s3Code = (text: string): string | undefined => /<Code>([^<]+)<\/Code>/.exec(text)?.[1];

async function mint(sim: Parameters<typeof call>[0], label = 'data'): Promise<Res> {
  const r = await call(sim, 'POST', '/objects', { body: { label } });
  assert.equal(r.status, 200, r.text);
  return r;
}

test('mint → presigned PUT → GET /objects/{id} get_url → the same bytes; list and delete (idempotent)', async (t) => {
  const sim = await startSim(t);
  const created = await mint(sim, 'mit-bih');
  const o = created.body;
  assert.match(o.object_id, /^obj_[0-9a-f]{16}$/);
  assert.equal(o.label, 'mit-bih');
  assert.equal(o.uploaded, false);
  assert.equal(o.size_bytes, null);
  assert.equal(o.expires_at, new Date(sim.clock.now() + 24 * 3600_000).toISOString());
  assert.equal(o.put_url_expires_at, new Date(sim.clock.now() + 3600_000).toISOString());
  const put = new URL(o.put_url);
  assert.equal(put.origin, sim.origin);
  assert.equal(put.pathname, `/_objects/${o.object_id}`);
  assert.equal(put.searchParams.get('X-Amz-Expires'), '3600');
  assert.match(put.searchParams.get('X-Amz-Signature') ?? '', /^[0-9a-f]{64}$/);

  const data = randomBytes(300_000);
  const up = await raw(o.put_url, 'PUT', data);
  assert.equal(up.status, 200, up.text);
  assert.equal(up.headers.etag, `"${createHash('md5').update(data).digest('hex')}"`);

  const got = await call(sim, 'GET', `/objects/${o.object_id}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.size_bytes, data.length);
  assert.equal(got.body.uploaded, true);
  // The get_url is reusable (N pods) and needs no token.
  for (let i = 0; i < 2; i++) {
    const dl = await fetch(got.body.get_url);
    assert.equal(dl.status, 200);
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(data));
  }
  const list = await call(sim, 'GET', '/objects');
  assert.deepEqual(
    list.body.map((x: { object_id: string }) => x.object_id),
    [o.object_id],
  );
  assert.equal(list.body[0].size_bytes, data.length);

  const del = await call(sim, 'DELETE', `/objects/${o.object_id}`);
  assert.deepEqual(del.body, { object_id: o.object_id, deleted: true });
  assert.deepEqual((await call(sim, 'DELETE', `/objects/${o.object_id}`)).body, { object_id: o.object_id, deleted: true });
  assertError(await call(sim, 'GET', `/objects/${o.object_id}`), 404, 'not_found');
  assert.deepEqual((await call(sim, 'GET', '/objects')).body, []);
  assert.equal(s3Code((await raw(got.body.get_url, 'GET')).text), 'NoSuchKey');
  assertError(await call(sim, 'DELETE', '/objects/obj_nope'), 404, 'not_found');
});

test('presigned URLs are checked like S3: tampering, wrong method, unsigned x-amz headers, custom headers on a PUT, expiry, missing Content-Length', async (t) => {
  const sim = await startSim(t);
  const o = (await mint(sim)).body;
  const data = Buffer.from('hello');
  const tamper = (param: string, value: string): string => {
    const u = new URL(o.put_url);
    u.searchParams.set(param, value);
    return u.toString();
  };
  const sig = new URL(o.put_url).searchParams.get('X-Amz-Signature')!;
  const cases: [string, string, number, string, Record<string, string>?][] = [
    [tamper('X-Amz-Signature', sig.replace(/.$/, sig.endsWith('0') ? '1' : '0')), 'PUT', 403, 'SignatureDoesNotMatch'],
    [tamper('X-Amz-Expires', '604800'), 'PUT', 403, 'SignatureDoesNotMatch'],
    [tamper('X-Amz-SignedHeaders', 'host;x-amz-meta-a'), 'PUT', 403, 'SignatureDoesNotMatch', { 'x-amz-meta-a': 'b' }],
    [o.put_url.replace(o.object_id, 'obj_0000000000000000'), 'PUT', 403, 'SignatureDoesNotMatch'],
    [o.put_url.split('?')[0], 'PUT', 403, 'AccessDenied'],
    [o.put_url, 'GET', 403, 'SignatureDoesNotMatch'],
    [o.put_url, 'PUT', 403, 'AccessDenied', { 'x-amz-meta-owner': 'me' }],
    // A custom header on a presigned PUT breaks the signature (the contract's trap), as on R2.
    [o.put_url, 'PUT', 403, 'SignatureDoesNotMatch', { 'Content-Type': 'application/zip' }],
    [o.put_url, 'PUT', 403, 'SignatureDoesNotMatch', { 'X-Upload-Label': 'mit-bih' }],
    [o.put_url, 'PUT', 403, 'SignatureDoesNotMatch', { Authorization: 'Bearer kgpu_xxx' }],
  ];
  for (const [url, method, status, code, headers] of cases) {
    const r = await raw(url, method, method === 'PUT' ? data : undefined, headers);
    assert.equal(r.status, status, `${code}: ${r.text}`);
    assert.equal(s3Code(r.text), code, r.text);
    assert.match(String(r.headers['content-type']), /xml/);
    assert.match(String(r.headers['x-request-id']), /^[0-9a-f]{16}$/);
  }
  const chunked = await raw(o.put_url, 'PUT', data, { 'Transfer-Encoding': 'chunked' }, true);
  assert.equal(chunked.status, 411);
  assert.equal(s3Code(chunked.text), 'MissingContentLength');
  assert.equal((await call(sim, 'GET', `/objects/${o.object_id}`)).body.uploaded, false, 'nothing was stored');
  // Valid for 1 h of simulated time.
  await sim.clock.advance(3600_000 + 1000);
  const late = await raw(o.put_url, 'PUT', data);
  assert.equal(late.status, 403);
  assert.equal(s3Code(late.text), 'AccessDenied');
  assert.match(late.text, /expired/);
  // A fresh GET /objects/{id} still works within the 24 h.
  assert.equal((await call(sim, 'GET', `/objects/${o.object_id}`)).status, 200);
});

test('objects expire 24 h after creation: 410 object_expired, bytes gone, dropped from the list', async (t) => {
  const sim = await startSim(t);
  const o = (await mint(sim)).body;
  assert.equal((await raw(o.put_url, 'PUT', Buffer.from('abc'))).status, 200);
  assert.equal(existsSync(join(sim.stateDir, 'objects', o.object_id)), true, 'stored on disk under the state dir');
  const getUrl = (await call(sim, 'GET', `/objects/${o.object_id}`)).body.get_url;
  await sim.clock.advance(24 * 3600_000 - 1);
  assert.equal((await call(sim, 'GET', `/objects/${o.object_id}`)).status, 200);
  await sim.clock.advance(1);
  const gone = await call(sim, 'GET', `/objects/${o.object_id}`);
  assertError(gone, 410, 'object_expired');
  assert.equal(gone.body.object_id, o.object_id);
  assert.deepEqual((await call(sim, 'GET', '/objects')).body, []);
  assert.equal(existsSync(join(sim.stateDir, 'objects', o.object_id)), false, 'the bytes are deleted');
  assert.equal((await raw(getUrl, 'GET')).status, 403, 'the old get_url (1 h) has long expired');
  assert.equal((await call(sim, 'DELETE', `/objects/${o.object_id}`)).status, 200, 'DELETE stays idempotent');
});

test('quotas on bytes actually stored: per object (422) and per user (409)', async (t) => {
  const sim = await startSim(t, { objectLimits: { perObjectBytes: 1000, perUserBytes: 1500 } });
  assertError(await call(sim, 'POST', '/objects', { body: { size_bytes: 1001 } }), 422, 'object_too_large', 'size_bytes');
  assertError(await call(sim, 'POST', '/objects', { body: { label: 7 } }), 422, 'validation_failed', 'label');
  const a = (await mint(sim, 'a')).body;
  const tooBig = await raw(a.put_url, 'PUT', Buffer.alloc(1001));
  assert.equal(tooBig.status, 422);
  assert.equal(s3Code(tooBig.text), 'EntityTooLarge');
  assert.equal((await raw(a.put_url, 'PUT', Buffer.alloc(1000))).status, 200);
  const b = (await mint(sim, 'b')).body;
  const over = await raw(b.put_url, 'PUT', Buffer.alloc(501));
  assert.equal(over.status, 409);
  assert.equal(s3Code(over.text), 'QuotaExceeded');
  assert.equal((await raw(b.put_url, 'PUT', Buffer.alloc(500))).status, 200);
  const full = await call(sim, 'POST', '/objects', { body: {} });
  assertError(full, 409, 'quota_exceeded');
  assert.equal(full.body.used_bytes, 1500);
  // Re-uploading an object replaces its bytes (not counted twice); deleting frees quota.
  assert.equal((await raw(a.put_url, 'PUT', Buffer.alloc(900))).status, 200);
  await call(sim, 'DELETE', `/objects/${b.object_id}`);
  assert.equal((await call(sim, 'GET', '/me')).body.quota.object_quota_bytes, 1500);
  assert.equal((await call(sim, 'POST', '/objects', { body: {} })).status, 200);
});

test('a pod fetches an object over HTTPS-style presigned GET with its in-pod token (curl inside the pod)', async (t) => {
  const sim = await startSim(t);
  const id = await rentReady(sim, { gpu_model: 'v100' });
  const o = (await mint(sim)).body;
  assert.equal((await raw(o.put_url, 'PUT', Buffer.from('payload\n'))).status, 200);
  const script =
    'G=$(curl -sS -H "Authorization: Bearer $KGPU_API_TOKEN" "$KGPU_API_BASE/objects/$1" | jq -r .get_url) && curl -sS -o /tmp/d "$G" && cat /tmp/d';
  const r = await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['sh', '-c', script, 'sh', o.object_id] } });
  assert.equal(r.body.exit_code, 0, r.text);
  assert.equal(r.body.stdout, 'payload\n');
});

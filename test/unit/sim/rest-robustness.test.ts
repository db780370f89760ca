// Simulator REST: bad input never crashes it — malformed JSON, wrong types, huge bodies, unknown
// routes and methods, garbage on the socket — each a proper 4xx with a JSON body; afterwards it
// still serves and its state is intact.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { assertError, call, rentReady, startSim } from './rest-fixture';

function rawSocket(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(data));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('a batch of bad requests gets 4xx JSON answers, and the simulator keeps serving with its state intact', async (t) => {
  const sim = await startSim(t);
  const id = await rentReady(sim, { gpu_model: 'v100' });
  const before = { credits: (await call(sim, 'GET', '/balance')).body.credits, pods: (await call(sim, 'GET', '/pods')).text };
  const json = { 'Content-Type': 'application/json' };
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const batch: [Promise<Awaited<ReturnType<typeof call>>>, number, string, string?][] = [
    [call(sim, 'POST', '/pods', { raw: '{"gpu_model": "v100",', headers: json }), 400, 'invalid_json'],
    [call(sim, 'POST', '/pods', { raw: '[1,2,3]', headers: json }), 400, 'invalid_body'],
    [call(sim, 'POST', '/pods', { raw: '"rent"', headers: json }), 400, 'invalid_body'],
    [call(sim, 'POST', '/pods', { raw: 'null', headers: json }), 400, 'invalid_body'],
    [call(sim, 'POST', '/pods', { raw: deep, headers: json }), 400, 'invalid_body'],
    [call(sim, 'POST', '/pods', { raw: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), headers: json }), 400, 'invalid_json'],
    [call(sim, 'POST', '/pods', { body: { gpu_count: { $gt: 1 } } }), 422, 'validation_failed', 'gpu_count'],
    [call(sim, 'POST', '/pods', { body: { name: 'x\u0000y' } }), 422, 'validation_failed', 'name'],
    [call(sim, 'POST', '/pods', { body: { ephemeral_storage_gib: 1e308 } }), 422, 'validation_failed', 'ephemeral_storage_gib'],
    [call(sim, 'POST', '/pods', { raw: JSON.stringify({ name: 'a'.repeat(2 * 1024 * 1024) }), headers: json }), 413, 'payload_too_large'],
    [
      call(sim, 'POST', `/pods/${id}/exec`, { raw: JSON.stringify({ cmd: ['true'], stdin: 'z'.repeat(9 * 1024 * 1024) }), headers: json }),
      422,
      'validation_failed',
      'stdin',
    ],
    [
      call(sim, 'POST', `/pods/${id}/exec`, { raw: 'cmd=ls', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
      400,
      'invalid_json',
    ],
    [call(sim, 'PATCH', `/pods/${id}`, { raw: '{', headers: json }), 400, 'invalid_json'],
    [call(sim, 'POST', '/objects', { raw: '{"label":', headers: json }), 400, 'invalid_json'],
    [call(sim, 'GET', `${sim.origin}/nope`), 404, 'not_found'],
    [call(sim, 'GET', '/v1/nope'), 404, 'not_found'],
    [call(sim, 'GET', `/pods/${id}/exec/more`), 404, 'not_found'],
    [call(sim, 'GET', `/pods/%E0%A4%A`), 404, 'not_found'],
    [call(sim, 'GET', `/pods/${'x'.repeat(8000)}`), 404, 'not_found'],
    [call(sim, 'PUT', '/pods'), 405, 'method_not_allowed'],
    [call(sim, 'DELETE', '/gpu-models'), 405, 'method_not_allowed'],
    [call(sim, 'GET', `/pods/${id}/exec`), 405, 'method_not_allowed'],
    [call(sim, 'POST', '/me', { body: {} }), 405, 'method_not_allowed'],
    [call(sim, 'GET', '/me', { token: null, headers: { Authorization: 'Bearer' } }), 401, 'unauthorized'],
    [call(sim, 'GET', '/me', { token: 'kgpu_pod_gpu-x-1-abcdef.AAAA' }), 401, 'invalid_token'],
  ];
  const results = await Promise.all(batch.map((b) => b[0]));
  results.forEach((r, i) => assertError(r, batch[i][1], batch[i][2], batch[i][3]));
  const allow = results[19].headers.get('allow');
  assert.equal(allow, 'GET, POST');

  // Garbage on the socket: a JSON 400 too, with a request id.
  const garbage = await rawSocket(Number(new URL(sim.origin).port), 'NOT HTTP AT ALL\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  assert.match(garbage, /X-Request-ID: [0-9a-f]{16}/);
  assert.match(garbage, /"error":"bad_request"/);

  // Still serving, nothing changed.
  assert.equal((await call(sim, 'GET', '/gpu-models', { token: null })).status, 200);
  assert.equal((await call(sim, 'GET', '/balance')).body.credits, before.credits);
  assert.equal((await call(sim, 'GET', '/pods')).text, before.pods);
  assert.equal(sim.state.pods.size, 1);
  const ok = await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['echo', 'alive'] } });
  assert.equal(ok.body.stdout, 'alive\n');
});

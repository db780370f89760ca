// Simulator REST: /v1/openapi.json is an OpenAPI 3.1 document that matches what the simulator
// serves — real responses of every operation (success and error) validate against its schemas.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { call, newKey, rentReady, startSim, type Res } from './rest-fixture';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
};

test('every operation and its responses validate against the served OpenAPI 3.1 document', async (t) => {
  const sim = await startSim(t, { coldStartMs: 0 });
  const docRes = await call(sim, 'GET', '/openapi.json', { token: null });
  assert.equal(docRes.status, 200);
  const doc = docRes.body as Doc;
  assert.equal(doc.openapi, '3.1.0');
  assert.equal((await call(sim, 'GET', '/v1/openapi.json', { token: null })).text, docRes.text);

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  ajv.addFormat('uri', (s: string) => URL.canParse(s));
  ajv.addSchema({ $id: 'kgpu', components: doc.components });

  const templates = Object.keys(doc.paths).map((p) => ({ p, re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
  const covered = new Set<string>();
  const check = (method: string, path: string, r: Res): void => {
    const tpl = templates.find((x) => x.re.test(path.split('?')[0]));
    assert.ok(tpl, `${path} is documented`);
    const op = doc.paths[tpl.p][method.toLowerCase()];
    assert.ok(op, `${method} ${tpl.p} is documented`);
    const resp = op.responses?.[String(r.status)];
    assert.ok(resp, `${method} ${tpl.p} documents status ${r.status}`);
    const schema = resp.content?.['application/json']?.schema;
    assert.ok(schema, `${method} ${tpl.p} ${r.status} has a JSON schema`);
    const validate = ajv.compile(rewriteRefs(schema) as object);
    assert.ok(validate(r.body), `${method} ${tpl.p} ${r.status}: ${ajv.errorsText(validate.errors)}\n${r.text.slice(0, 500)}`);
    covered.add(`${method} ${tpl.p}`);
  };
  const go = async (method: string, path: string, o: Parameters<typeof call>[3] = {}): Promise<Res> => {
    const r = await call(sim, method, path, o);
    check(method, path, r);
    return r;
  };

  await go('GET', '/gpu-models', { token: null });
  await go('GET', '/me');
  await go('GET', '/balance');
  await go('GET', '/cluster');
  const key = newKey(t);
  await go('POST', '/pods', { body: { gpu_model: 'v100', ssh_pubkey: key.publicKey } });
  await go('POST', '/pods', { body: { gpu_model: 'v100', name: 'minted' } });
  const id = await rentReady(sim, { gpu_model: 'v100', name: 'ready' });
  await go('GET', '/pods');
  await go('GET', `/pods/${id}`);
  await go('PATCH', `/pods/${id}`, { body: {} });
  await go('POST', `/pods/${id}/exec`, { body: { cmd: ['echo', 'hi'] } });
  // stdin over 1 MiB: the contract's validation answer (422 naming the field), never a 413.
  assert.equal((await go('POST', `/pods/${id}/exec`, { body: { cmd: ['true'], stdin: 'x'.repeat(1024 * 1024 + 1) } })).status, 422);
  assert.equal(doc.paths['/pods/{pod_id}/exec'].post.responses?.['413'], undefined, 'exec documents no 413');
  const obj = await go('POST', '/objects', { body: { label: 'x' } });
  await go('GET', '/objects');
  await go('GET', `/objects/${obj.body.object_id}`);
  await go('DELETE', `/objects/${obj.body.object_id}`);
  await go('DELETE', `/pods/${id}`);
  await go('GET', `/pods/${id}`);
  // Errors.
  await go('GET', '/me', { token: null });
  await go('POST', '/pods', { body: { gpu_count: 9 } });
  await go('POST', '/pods', { raw: '{', headers: { 'Content-Type': 'application/json' } });
  await go('POST', '/pods', { body: { gpu_model: 'v100', gpu_count: 4 } });
  await go('GET', '/pods/gpu-none-1-000000');
  await go('POST', `/pods/${id}/exec`, { body: { cmd: ['true'] } });
  await go('POST', '/pods', { token: sim.podToken(id), body: {} });
  sim.faults.failNext('GET', '/pods/*/exec', 500);
  sim.faults.failNext('POST', '/pods/*/exec', 500);
  await go('POST', `/pods/${id}/exec`, { body: { cmd: ['true'] } });
  const poor = await startSim(t, { credits: 1 });
  const broke = await call(poor, 'POST', '/pods', { body: {} });
  check('POST', '/pods', broke);
  await sim.clock.advance(25 * 3600_000);
  const old = await call(sim, 'POST', '/objects', { body: {} });
  await sim.clock.advance(25 * 3600_000);
  await go('GET', `/objects/${old.body.object_id}`);

  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const m of Object.keys(ops))
      if (m !== 'parameters') assert.ok(covered.has(`${m.toUpperCase()} ${p}`), `${m.toUpperCase()} ${p} was exercised`);
  }
});

/** `#/components/…` refs inside a path's schema point into the `kgpu` schema added above. */
function rewriteRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, k === '$ref' && typeof x === 'string' && x.startsWith('#/') ? `kgpu${x}` : rewriteRefs(x)]),
    );
  }
  return v;
}

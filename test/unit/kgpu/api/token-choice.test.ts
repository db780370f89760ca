/** Which token is sent: stored per API base, else $KGPU_API_TOKEN for its own base, never a refused one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseToken } from '../../../../src/kgpu/api/token-choice';

const sim = 'http://127.0.0.1:4000/v1';
const real = 'https://api.kgpu.net/v1';

test('a stored token wins, but only for the API base it was stored for', () => {
  const env = { KGPU_API_TOKEN: 'kgpu_env', KGPU_API_BASE: sim };
  assert.deepEqual(chooseToken({ apiBase: sim, stored: { token: 'kgpu_stored', apiBase: sim }, env, environmentSuppressed: false }), {
    token: 'kgpu_stored',
    source: 'stored',
    rejected: false,
  });
  assert.deepEqual(
    chooseToken({ apiBase: real, stored: { token: 'kgpu_stored', apiBase: sim }, env, environmentSuppressed: false }),
    { token: undefined, source: 'none', rejected: false },
    'a simulator token never goes to another deployment',
  );
});

test('$KGPU_API_TOKEN is used when nothing is stored, for its own base (the default base when $KGPU_API_BASE is unset)', () => {
  assert.equal(
    chooseToken({ apiBase: sim, env: { KGPU_API_TOKEN: ' kgpu_env\n', KGPU_API_BASE: `${sim}/` }, environmentSuppressed: false }).token,
    'kgpu_env',
  );
  assert.equal(chooseToken({ apiBase: real, env: { KGPU_API_TOKEN: 'kgpu_env' }, environmentSuppressed: false }).source, 'environment');
  assert.equal(
    chooseToken({ apiBase: real, env: { KGPU_API_TOKEN: 'kgpu_env', KGPU_API_BASE: sim }, environmentSuppressed: false }).token,
    undefined,
  );
  assert.equal(
    chooseToken({ apiBase: sim, env: { KGPU_API_TOKEN: 'kgpu_env', KGPU_API_BASE: sim }, environmentSuppressed: true }).token,
    undefined,
    'after Sign Out',
  );
  assert.equal(chooseToken({ apiBase: sim, env: { KGPU_API_TOKEN: '  ' }, environmentSuppressed: false }).source, 'none');
  assert.equal(
    chooseToken({ apiBase: sim, env: { KGPU_API_TOKEN: 'kgpu_env' }, environmentSuppressed: false }).source,
    'none',
    'never to a base a setting chose while $KGPU_API_BASE is unset',
  );
});

test('a token refused with 401 is not sent again; it is reported as rejected until another token is chosen', () => {
  const refused = chooseToken({
    apiBase: sim,
    env: { KGPU_API_TOKEN: 'kgpu_env', KGPU_API_BASE: sim },
    environmentSuppressed: false,
    rejectedToken: 'kgpu_env',
  });
  assert.deepEqual(refused, { token: undefined, source: 'environment', rejected: true });
  const fresh = chooseToken({
    apiBase: sim,
    stored: { token: 'kgpu_new', apiBase: sim },
    env: { KGPU_API_TOKEN: 'kgpu_env', KGPU_API_BASE: sim },
    environmentSuppressed: false,
    rejectedToken: 'kgpu_env',
  });
  assert.deepEqual(fresh, { token: 'kgpu_new', source: 'stored', rejected: false });
});

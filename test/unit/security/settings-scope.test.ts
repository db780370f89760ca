/**
 * Security finding 1 (unit part): which value of a kgpu setting counts. A workspace (a cloned
 * repository's .vscode/settings.json, or a pod's own folder opened as kgpu://) cannot choose
 * where the token and files go, and runs no code through kgpu.python / kgpu.env unless trusted;
 * the token goes over plain HTTP only to this machine; the environment token only to
 * $KGPU_API_BASE or the default base, a stored token only to the base it was stored for. The
 * manifest declares it. (In a real VS Code: test/e2e/security/.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkApiBase,
  DEFAULT_API_BASE,
  kgpuKeysIn,
  resolveSetting,
  tokenDestination,
  type TrustContext,
} from '../../../src/kgpu/model/setting-resolution';
import { localisedManifest } from '../l10n/localised-manifest';
import { chooseToken } from '../../../src/kgpu/api/token-choice';

const TRUSTED: TrustContext = { isTrusted: true, podWindow: false, podWindowTrusted: false };
const UNTRUSTED: TrustContext = { isTrusted: false, podWindow: false, podWindowTrusted: false };
const POD_WINDOW: TrustContext = { isTrusted: true, podWindow: true, podWindowTrusted: false };

test("connection settings: only the user's own value counts, in every workspace; a workspace's is reported", () => {
  for (const key of ['apiBase', 'sshHost', 'sshPort', 'sshIdentityFile']) {
    for (const trust of [TRUSTED, UNTRUSTED, POD_WINDOW]) {
      assert.deepEqual(
        resolveSetting(key, { defaultValue: 'd', workspaceValue: 'evil' }, trust),
        { value: undefined, ignoredWorkspaceValue: true },
        key,
      );
      assert.deepEqual(
        resolveSetting(key, { globalValue: 'mine', workspaceFolderValue: 'evil' }, trust),
        { value: 'mine', ignoredWorkspaceValue: true },
        key,
      );
      assert.deepEqual(resolveSetting(key, { globalValue: 'mine' }, trust), { value: 'mine', ignoredWorkspaceValue: false }, key);
    }
  }
});

test("execution settings: a workspace's value counts only when trusted — not in Restricted Mode, not from a pod window the user did not trust", () => {
  for (const key of ['python', 'env', 'launcher']) {
    assert.deepEqual(resolveSetting(key, { globalValue: 'python3', workspaceValue: 'uv run python' }, TRUSTED), {
      value: 'uv run python',
      ignoredWorkspaceValue: false,
    });
    assert.deepEqual(resolveSetting(key, { globalValue: 'python3', workspaceValue: 'python -c evil #' }, UNTRUSTED), {
      value: 'python3',
      ignoredWorkspaceValue: true,
    });
    assert.deepEqual(resolveSetting(key, { workspaceValue: 'python -c evil #' }, POD_WINDOW), {
      value: undefined,
      ignoredWorkspaceValue: true,
    });
    assert.deepEqual(
      resolveSetting(key, { globalValue: 'python3', workspaceValue: 'uv run python' }, { ...POD_WINDOW, podWindowTrusted: true }).value,
      'uv run python',
    );
  }
  // Other settings keep the usual order.
  assert.deepEqual(resolveSetting('syncExclude', { globalValue: ['a'], workspaceValue: ['b'] }, UNTRUSTED), {
    value: ['b'],
    ignoredWorkspaceValue: false,
  });
});

test('http:// only for this machine; anything else must be https:// — the message names the setting', () => {
  for (const ok of [
    'https://api.kgpu.net/v1',
    'https://kgpu.example.org/v1/',
    'http://127.0.0.1:8080/v1',
    'http://localhost:9/v1',
    'http://[::1]:8080/v1',
    'http://127.1.2.3/v1',
  ]) {
    assert.ok(checkApiBase(ok).ok, ok);
  }
  assert.deepEqual(checkApiBase('https://api.kgpu.net/v1/'), { ok: true, base: 'https://api.kgpu.net/v1' });
  const plain = checkApiBase('http://evil.example:8080/v1');
  assert.ok(
    !plain.ok &&
      /kgpu\.apiBase "http:\/\/evil\.example:8080\/v1" uses http:\/\/ for evil\.example:8080, which is not this machine.*Use https:\/\//.test(
        plain.why,
      ),
    JSON.stringify(plain),
  );
  const env = checkApiBase('http://10.0.0.5/v1', '$KGPU_API_BASE');
  assert.ok(!env.ok && env.why.startsWith('$KGPU_API_BASE "http://10.0.0.5/v1"'));
  for (const bad of [
    'ftp://x/v1',
    'not a url',
    'https://user:pw@api.kgpu.net/v1',
    'http://127.0.0.1.evil.example/v1',
    'http://localhost.evil.example/v1',
  ])
    assert.ok(!checkApiBase(bad).ok, bad);
});

test("sign-in says plainly which host receives the token when it is not kgpu's own", () => {
  assert.deepEqual(tokenDestination(DEFAULT_API_BASE), { host: 'api.kgpu.net', official: true });
  const other = tokenDestination('https://gpu.example.org/v1');
  assert.equal(other.official, false);
  assert.match(other.warning ?? '', /The token will be sent to gpu\.example\.org .*not to kgpu's api\.kgpu\.net/);
});

test('the environment token goes only to $KGPU_API_BASE or the default base; a stored token only to its own base', () => {
  const env = { KGPU_API_TOKEN: 'kgpu_env' };
  assert.equal(chooseToken({ apiBase: DEFAULT_API_BASE, env, environmentSuppressed: false }).token, 'kgpu_env');
  assert.equal(
    chooseToken({ apiBase: 'http://127.0.0.1:9/v1', env, environmentSuppressed: false }).token,
    undefined,
    'not to another base, even a user-set one, while $KGPU_API_BASE is unset',
  );
  assert.equal(
    chooseToken({
      apiBase: 'http://127.0.0.1:9/v1',
      env: { ...env, KGPU_API_BASE: 'http://127.0.0.1:9/v1/' },
      environmentSuppressed: false,
    }).token,
    'kgpu_env',
  );
  assert.equal(
    chooseToken({ apiBase: DEFAULT_API_BASE, env: { ...env, KGPU_API_BASE: 'http://127.0.0.1:9/v1' }, environmentSuppressed: false }).token,
    undefined,
  );
  const stored = { token: 'kgpu_stored', apiBase: 'http://127.0.0.1:9/v1' };
  assert.equal(chooseToken({ apiBase: 'http://127.0.0.1:9/v1', stored, env: {}, environmentSuppressed: false }).token, 'kgpu_stored');
  assert.equal(chooseToken({ apiBase: 'https://other.example/v1', stored, env: {}, environmentSuppressed: false }).token, undefined);
});

test('a settings file that sets connection settings is noticed even when VS Code already dropped the values', () => {
  const text = '{\n  // a cloned repo\n  "kgpu.apiBase": "http://evil:1/v1",\n  "kgpu.sshPort" : 22,\n  "kgpu.python": "python"\n}';
  assert.deepEqual(kgpuKeysIn(text, ['apiBase', 'sshHost', 'sshPort', 'sshIdentityFile']), ['apiBase', 'sshPort']);
});

test('the manifest: connection settings are machine-scoped; Restricted Mode support is limited, with python/env restricted; virtual workspaces declared', () => {
  const pkg = localisedManifest(); // with package.nls.json's English text
  const props = pkg.contributes.configuration.properties;
  for (const k of ['apiBase', 'sshHost', 'sshPort', 'sshIdentityFile']) assert.equal(props[`kgpu.${k}`].scope, 'machine', k);
  const untrusted = pkg.capabilities?.untrustedWorkspaces;
  assert.equal(untrusted?.supported, 'limited');
  assert.deepEqual([...untrusted.restrictedConfigurations].sort(), ['kgpu.env', 'kgpu.python']);
  assert.ok(untrusted.description.length > 20);
  assert.ok(pkg.capabilities.virtualWorkspaces !== undefined, 'declared deliberately');
});

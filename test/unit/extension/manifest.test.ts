import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withFakeVscode } from './fake-vscode';
import { localisedManifest } from '../l10n/localised-manifest';

const root = join(__dirname, '..', '..', '..');
// What VS Code shows: the manifest's %keys% replaced by package.nls.json's English text.
const pkg = localisedManifest();
const declared = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));

test('every command referenced in menus, views and keybindings is declared', () => {
  const referenced: string[] = [];
  for (const items of Object.values(pkg.contributes.menus) as { command: string }[][]) {
    for (const item of items) referenced.push(item.command);
  }
  for (const kb of pkg.contributes.keybindings) referenced.push(kb.command);
  for (const w of pkg.contributes.viewsWelcome) {
    for (const m of (w.contents as string).matchAll(/\(command:([\w.]+)\)/g)) referenced.push(m[1]);
  }
  const undeclared = referenced.filter((c) => !declared.has(c));
  assert.deepEqual(undeclared, []);
});

test('the product commands named by the issues exist, each titled under the kgpu category', () => {
  for (const id of [
    'kgpu.signIn',
    'kgpu.signOut',
    'kgpu.refresh',
    'kgpu.rent',
    'kgpu.release',
    'kgpu.rotateSshKey',
    'kgpu.openWorkspace',
    'kgpu.openTerminal',
    'kgpu.runActiveFile',
    'kgpu.stopJob',
    'kgpu.showJobLog',
    'kgpu.exec',
    'kgpu.upload',
    'kgpu.download',
  ]) {
    assert.ok(declared.has(id), `${id} is declared`);
  }
  for (const c of pkg.contributes.commands) {
    assert.equal(c.category, 'kgpu', `${c.command} category`);
    assert.ok(c.title && c.title.length > 2, `${c.command} has a title`);
  }
});

test('every setting has a description and a default', () => {
  const props = pkg.contributes.configuration.properties;
  for (const [key, p] of Object.entries(props) as [string, { description?: string; markdownDescription?: string; default?: unknown }][]) {
    assert.ok(key.startsWith('kgpu.'), key);
    assert.ok((p.description ?? p.markdownDescription ?? '').length > 10, `${key} has a description`);
    assert.ok('default' in p, `${key} has a default`);
  }
  for (const key of ['apiBase', 'sshHost', 'sshPort', 'sshIdentityFile', 'pollIntervalSeconds', 'python', 'syncExclude']) {
    assert.ok(props[`kgpu.${key}`], `kgpu.${key} is contributed`);
  }
  assert.equal(props['kgpu.apiBase'].default, 'https://api.kgpu.net/v1');
  assert.equal(props['kgpu.pollIntervalSeconds'].minimum, 10);
});

test('activate() registers every declared command (bundled dist/extension.js)', async () => {
  const bundle = join(root, 'dist', 'extension.js');
  assert.ok(existsSync(bundle), 'dist/extension.js is built (npm test builds it first)');
  await withFakeVscode(async (fake) => {
    const ext = require(bundle);
    const context = fake.context;
    const subscriptions = context.subscriptions;
    const activated = ext.activate(context);
    // The heavy dependencies (dist/vendor-*.js, esbuild.mjs) load on first use, never at activation.
    const vendorLoaded = Object.keys(require.cache).filter((f) => /[/\\]dist[/\\]vendor-[\w-]+\.js$/.test(f));
    assert.deepEqual(vendorLoaded, [], 'require + activate() loaded no vendor file');
    await activated;
    const missing = [...declared].filter((c) => !fake.registeredCommands.has(c));
    assert.deepEqual(missing, [], 'declared but not registered');
    const extra = [...fake.registeredCommands].filter((c) => !declared.has(c));
    assert.deepEqual(extra, [], 'registered but not declared');
    for (const d of subscriptions) d.dispose();
    await ext.deactivate?.();
  });
});

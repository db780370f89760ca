import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localisedManifest } from '../l10n/localised-manifest';

const root = join(__dirname, '..', '..', '..');
// What VS Code shows: the manifest's %keys% replaced by package.nls.json's English text.
const pkg = localisedManifest();
const c = pkg.contributes;

test('the kgpu task type is contributed (command required; pod and cwd optional) and activates the extension', () => {
  const def = c.taskDefinitions.find((d: { type: string }) => d.type === 'kgpu');
  assert.ok(def, 'taskDefinitions has kgpu');
  assert.deepEqual(def.required, ['command']);
  assert.deepEqual(Object.keys(def.properties).sort(), ['command', 'cwd', 'pod']);
  assert.ok(pkg.activationEvents.includes('onTaskType:kgpu'));
});

test('the $kgpu-python problem matcher maps a pod traceback frame to the workspace folder', () => {
  const m = c.problemMatchers.find((p: { name: string }) => p.name === 'kgpu-python');
  assert.deepEqual(m.fileLocation, ['relative', '${workspaceFolder}']);
  const re = new RegExp(m.pattern.regexp);
  const hit = re.exec('  File "/workspace/my proj/src/train.py", line 42, in main');
  assert.ok(hit);
  assert.equal(hit[m.pattern.file], 'src/train.py');
  assert.equal(hit[m.pattern.line], '42');
  assert.equal(hit[m.pattern.message], 'main');
  assert.equal(
    re.exec('  File "/usr/lib/python3/dist-packages/torch/nn/module.py", line 1, in f'),
    null,
    'a library frame is not a problem in the workspace',
  );
});

test('the extension activates after start-up (not only when a view opens), so the status bar shows what billed pods cost after a restart', () => {
  assert.ok(pkg.activationEvents.includes('onStartupFinished'));
  assert.ok(!pkg.activationEvents.includes('*'), 'never "*": start-up must not wait for kgpu');
});

test('Run is in the shared editor/title/run group (one Run button with the other run actions), not a second play icon', () => {
  assert.ok(!(c.menus['editor/title'] ?? []).some((m: { command: string }) => m.command === 'kgpu.runActiveFile'));
  const run = c.menus['editor/title/run'].find((m: { command: string }) => m.command === 'kgpu.runActiveFile');
  assert.ok(run, 'kgpu.runActiveFile in editor/title/run');
  assert.match(run.when, /resourceLangId == python/);
});

test('each view has its own icon file', () => {
  const views = c.views.kgpu as { id: string; icon: string }[];
  const icons = views.map((v) => v.icon);
  assert.equal(new Set(icons).size, icons.length, 'distinct icons');
  for (const i of icons) assert.match(readFileSync(join(root, i), 'utf8'), /<svg[^>]*currentColor/, `${i} is a themable SVG`);
  assert.ok(!icons.includes(c.viewsContainers.activitybar[0].icon), 'not the container icon');
});

test("configuration defaults touch only kgpu's own folder, never every workspace's checkpoints or caches", () => {
  for (const [key, value] of Object.entries(c.configurationDefaults ?? {})) {
    assert.deepEqual(Object.keys(value as object), ['**/.kgpu'], key);
  }
});

test('the marketplace metadata is complete (bugs, homepage, categories, keywords, gallery banner)', () => {
  assert.match(pkg.bugs.url, /^https:\/\/.+\/issues$/);
  assert.match(pkg.homepage, /^https:\/\//);
  assert.ok(pkg.categories.includes('Machine Learning'));
  assert.ok(pkg.keywords.length >= 5 && pkg.keywords.length <= 30, 'the marketplace allows up to 30 keywords');
  assert.match(pkg.galleryBanner.color, /^#[0-9a-f]{6}$/i);
  assert.ok(['dark', 'light'].includes(pkg.galleryBanner.theme));
});

test('the CHANGELOG is for users: a section for the current version, no commit hashes or file paths', () => {
  const log = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
  assert.match(log, new RegExp(`^## ${pkg.version.replace(/\./g, '\\.')}\\b`, 'm'));
  assert.doesNotMatch(log, /\b[0-9a-f]{7,40}\b/, 'no commit hashes');
  assert.doesNotMatch(log, /\bsrc\/|\.ts\b|test\//, 'no source paths');
});

test('the walkthrough: sign in, rent, open the workspace, run, release — each step with its command, an image in the VSIX and a completion event', () => {
  const [w] = c.walkthroughs;
  assert.equal(w.id, 'gettingStarted');
  const declared = new Set(c.commands.map((x: { command: string }) => x.command));
  const ignore = readFileSync(join(root, '.vscodeignore'), 'utf8');
  assert.deepEqual(
    w.steps.map((s: { id: string }) => s.id),
    ['signIn', 'trySimulator', 'rent', 'openWorkspace', 'run', 'release'],
  );
  for (const s of w.steps) {
    const cmd = /\(command:([\w.]+)\)/.exec(s.description);
    assert.ok(cmd && declared.has(cmd[1]), `${s.id} links a declared command`);
    const img = s.media.svg ?? s.media.image;
    assert.match(readFileSync(join(root, img), 'utf8'), /^<svg/, `${s.id}: ${img}`);
    assert.ok(ignore.includes(`!${img.replace(/[^/]+$/, '*.svg')}`), `${img} ships in the VSIX`);
    assert.ok(s.media.altText, `${s.id} has alt text`);
    assert.ok(s.completionEvents.length > 0, `${s.id} completes`);
  }
  assert.ok(declared.has('kgpu.getStarted'), 'kgpu: Get Started opens it');
});

test('"Try the simulator" is offered only where a simulator is reachable (walkthrough step and welcome views)', () => {
  const step = c.walkthroughs[0].steps.find((s: { id: string }) => s.id === 'trySimulator');
  assert.match(step.when, /(^|&& )kgpu\.simulatorAvailable\b/);
  for (const v of c.viewsWelcome as { contents: string; when: string }[]) {
    if (v.contents.includes('kgpu.trySimulator')) assert.match(v.when, /(^|&& )kgpu\.simulatorAvailable\b/, v.contents);
    else if (/!kgpu\.signedIn/.test(v.when))
      assert.match(v.when, /!kgpu\.simulatorAvailable/, 'the other welcome has the opposite condition');
  }
});

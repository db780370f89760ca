/**
 * Issue 24: esbuild.mjs splits our code into dist/extension.js (the core, loaded at activation) and
 * dist/features.js (what src/ loads on first use with a `require()`). A module bundled into both
 * files would have two instances once both loaded: two copies of its state, of its singletons, of
 * its classes (an `instanceof` across the seam fails). This test builds dist/ with every module of
 * src/ recording itself when its top level runs, loads the core, activates it, then loads every
 * module features.js holds through the core's own seam, and checks that each module of src/ was
 * bundled into exactly one file and ran at most once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFakeVscode } from './fake-vscode';
import { buildRecordingBundle } from './recording-build';

interface FeaturesFile {
  modules: string[];
  featureModule(m: string): Record<string, unknown>;
}

test('dist/extension.js and dist/features.js share one instance of every module: each is bundled once and runs once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-split-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { bundle, bundledInto } = await buildRecordingBundle(dir);

  const twice = [...bundledInto].filter(([, files]) => files.length !== 1);
  assert.deepEqual(twice, [], 'a module of src/ is bundled into more than one file');
  const inFile = (f: string): string[] => [...bundledInto].filter(([, files]) => files[0] === f).map(([m]) => m);
  const core = inFile('extension.js');
  const features = inFile('features.js');
  t.diagnostic(`${core.length} modules in extension.js, ${features.length} in features.js`);
  assert.ok(core.includes('src/extension.ts') && core.includes('src/platform/services.ts'), core.join(', '));
  for (const m of [
    'src/kgpu/jobs/job-runner.ts',
    'src/jobs/jobs-view.ts',
    'src/commands/rent-command.ts',
    'src/notebook/notebook-kernel.ts',
  ])
    assert.ok(features.includes(m), `${m} is in features.js`);

  const run: string[] = [];
  globalThis.__kgpuModulesRun = run;
  try {
    await withFakeVscode(async (fake) => {
      const ext = require(bundle) as { activate(c: unknown): unknown };
      ext.activate(fake.context);
      assert.equal(run.filter((m) => features.includes(m)).length, 0, 'activation ran no module of features.js');
      // The first call of a command stub loads its feature through the seam: the core requires
      // features.js and connects it (from then on features.js takes the core's modules from it).
      const rent = fake.commandRegistrations.find((r) => r.id === 'kgpu.rent');
      assert.ok(rent);
      void Promise.resolve(rent.handler()).catch(() => undefined);
      assert.ok(run.includes('src/commands/rent-command.ts'), 'the stub loaded rent-command.ts from features.js');

      // Every module features.js holds, loaded: each runs once, and the core's modules they
      // import are the core's instances (they do not run again).
      const file = require(join(dir, 'features.js')) as FeaturesFile;
      assert.ok(file.modules.length >= 10, file.modules.join(', '));
      for (const m of file.modules) assert.equal(typeof file.featureModule(m), 'object', m);
      const counts = new Map<string, number>();
      for (const m of run) counts.set(m, (counts.get(m) ?? 0) + 1);
      assert.deepEqual(
        [...counts].filter(([, n]) => n > 1),
        [],
        'a module ran twice: two instances of its state',
      );
      assert.deepEqual(
        features.filter((m) => !counts.has(m)),
        [],
        'every module of features.js is reachable from its entries',
      );
      for (const d of fake.context.subscriptions) d.dispose();
    });
  } finally {
    globalThis.__kgpuModulesRun = undefined;
  }
});

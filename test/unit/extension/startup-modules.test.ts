/**
 * Issue 24: activation runs at startup (onStartupFinished), so require + activate() of
 * dist/extension.js must not run the features' code — commands are stubs that load their feature on
 * first use (src/lazy-contributions.ts), heavy dependencies live in dist/vendor-*.js. Timing lives in
 * `npm run bench -- --only activation`; this test is the deterministic part: it builds the bundle
 * with esbuild.mjs's options plus a plugin that makes every module of src/ record itself when its
 * top level runs, loads it with the fake vscode module, and lists the modules that ran.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';
import { extensionBundleOptions } from './extension-build';
import { createFakeVscode } from './fake-vscode';

const root = join(__dirname, '..', '..', '..');

/** What startup must leave for first use: the feature code behind commands, the kgpu:// file system, the
 *  notebook kernel, the debug adapter, Run Sweep, the REST client and SSH. (The job runner, the pod
 *  telemetry and port forwarding still load at startup: the TelemetryHub and the Jobs rows create
 *  the JobRunner at activation.) */
const FIRST_USE_ONLY: RegExp[] = [
  /^src\/kgpu\/fs\/(workspace-[\w-]+|pod-watcher|watch-registry|own-echo|pod-copy|pod-remove|pod-runner|lost-session|file-contents)\.ts$/,
  /^src\/kgpu\/notebook\/(?!kernel-status\.ts$)/,
  /^src\/kgpu\/debug\/(?!path-map\.ts$)/,
  /^src\/kgpu\/sweeps\/(grid|sweep-file)\.ts$/,
  /^src\/kgpu\/ssh\/(ssh-connection|spare-connection|spare-pool|pod-shell|host-key-probe)\.ts$/,
  /^src\/kgpu\/api\/(api-client|http-exchange)\.ts$/,
  /^src\/commands\/(auth-commands|rent-command|release-command|rotate-key-command|copy-commands|exec-command|terminal)\.ts$/,
  /^src\/files\/transfer-commands\.ts$/,
  /^src\/notebook\/notebook-kernel\.ts$/,
  /^src\/debug\/(debug-adapter-factory|attach-command)\.ts$/,
  /^src\/sweeps\/run-sweep-command\.ts$/,
  /^src\/jobs\/rank-filter-command\.ts$/,
];

declare global {
  var __kgpuModulesRun: string[] | undefined;
}

/** Builds src/extension.ts into `dir` so that each module of src/ pushes its path onto globalThis.__kgpuModulesRun when it runs. */
async function buildRecordingBundle(dir: string): Promise<string> {
  const options = await extensionBundleOptions({ production: false, outdir: dir, logLevel: 'silent' });
  const record: esbuild.Plugin = {
    name: 'record-module-runs',
    setup(build) {
      build.onLoad({ filter: /[/\\]src[/\\].*\.ts$/ }, (a) => {
        const rel = relative(root, a.path).split('\\').join('/');
        const text = readFileSync(a.path, 'utf8');
        return { contents: `globalThis.__kgpuModulesRun?.push(${JSON.stringify(rel)});\n${text}`, loader: 'ts' };
      });
    },
  };
  await esbuild.build({
    ...(options as esbuild.BuildOptions),
    sourcemap: false,
    plugins: [...((options.plugins as esbuild.Plugin[]) ?? []), record],
  });
  return options.outfile;
}

test('require + activate() of dist/extension.js run no feature code; a command stub loads its feature on first use', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-startup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = await buildRecordingBundle(dir);

  const fake = createFakeVscode();
  const M = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const original = M._load;
  M._load = function (req: string, ...rest: unknown[]) {
    return req === 'vscode' ? fake.module : original.call(this, req, ...rest);
  };
  const run: string[] = [];
  globalThis.__kgpuModulesRun = run;
  try {
    const ext = require(bundle) as { activate(c: unknown): unknown; deactivate?(): unknown };
    ext.activate(fake.context);
    const atStartup = [...run];
    t.diagnostic(`${atStartup.length} modules of src/ ran at require + activate()`);
    assert.ok(
      atStartup.includes('src/extension.ts') && atStartup.includes('src/platform/services.ts'),
      `recorded: ${atStartup.join(', ')}`,
    );
    const pulledIn = atStartup.filter((f) => FIRST_USE_ONLY.some((re) => re.test(f)));
    assert.deepEqual(pulledIn, [], `startup ran feature code (${atStartup.length} modules ran)`);

    // The Rent stub: its first call loads src/commands/rent-command.ts, which registers the real
    // command in place of the stub (and the stub hands the call on to it).
    const stub = fake.commandRegistrations.find((r) => r.id === 'kgpu.rent');
    assert.ok(stub, 'kgpu.rent is registered at activation');
    const before = fake.commandRegistrations.length;
    void Promise.resolve(stub.handler()).catch(() => undefined);
    assert.ok(stub.disposed, 'the stub made way for the real command');
    assert.ok(run.includes('src/commands/rent-command.ts'), 'the first call loaded rent-command.ts');
    assert.deepEqual(
      fake.commandRegistrations.slice(before).map((r) => r.id),
      ['kgpu.rent'],
      'rent-command.ts registered kgpu.rent',
    );
    for (const d of fake.context.subscriptions) d.dispose();
    await ext.deactivate?.();
  } finally {
    M._load = original;
    globalThis.__kgpuModulesRun = undefined;
  }
});

test('each lazily loaded feature registers exactly the commands its stubs stand for (src/lazy-contributions.ts)', () => {
  const fake = createFakeVscode();
  const M = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const original = M._load;
  M._load = function (req: string, ...rest: unknown[]) {
    return req === 'vscode' ? fake.module : original.call(this, req, ...rest);
  };
  try {
    const { LAZY_FEATURES } = require('../../../src/lazy-contributions') as typeof import('../../../src/lazy-contributions');
    assert.ok(LAZY_FEATURES.length >= 5);
    for (const feature of LAZY_FEATURES) {
      const before = fake.commandRegistrations.length;
      // The permissive context stands in for the services: registering touches them, runs nothing.
      feature
        .load()(fake.context as never)
        .dispose();
      const registered = fake.commandRegistrations.slice(before).map((r) => r.id);
      assert.deepEqual([...registered].sort(), [...feature.ids].sort(), `the feature behind ${feature.ids.join(', ')}`);
    }
  } finally {
    M._load = original;
  }
});

test('a stub whose feature fails to load throws that error and stays registered (the next call tries again)', () => {
  const fake = createFakeVscode();
  const M = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const original = M._load;
  M._load = function (req: string, ...rest: unknown[]) {
    return req === 'vscode' ? fake.module : original.call(this, req, ...rest);
  };
  try {
    // Fresh, bound to this test's fake (the previous test loaded it with its own).
    delete require.cache[require.resolve('../../../src/platform/lazy/lazy-commands')];
    const { lazyCommands } =
      require('../../../src/platform/lazy/lazy-commands') as typeof import('../../../src/platform/lazy/lazy-commands');
    let attempts = 0;
    lazyCommands(fake.context as never, ['kgpu.x'], () => {
      attempts++;
      throw new Error('dist/extension.js is broken');
    });
    const live = (): FakeRegistration[] => fake.commandRegistrations.filter((r) => r.id === 'kgpu.x' && !r.disposed);
    assert.equal(live().length, 1);
    assert.throws(() => live()[0].handler(), /is broken/);
    assert.equal(live().length, 1, 'a stub is registered again');
    assert.throws(() => live()[0].handler(), /is broken/);
    assert.equal(attempts, 2);
  } finally {
    M._load = original;
  }
});

type FakeRegistration = ReturnType<typeof createFakeVscode>['commandRegistrations'][number];

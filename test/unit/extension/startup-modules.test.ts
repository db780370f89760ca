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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRecordingBundle } from './recording-build';
import { withFakeVscode, type FakeVscode } from './fake-vscode';
import type { Pod } from '../../../src/kgpu/api/api-types';

/** What startup must leave for first use: the feature code behind commands, the kgpu:// file system, the
 *  notebook kernel, the debug adapter, Run Sweep, the REST client and SSH; and what only matters while a
 *  pod lives (src/live-pod-contributions.ts): the job runner and what it holds (sync, transfer, warm
 *  start, deps, launch), the Jobs rows, port forwarding, Release When Done. (The pod telemetry and the
 *  idle guard's hub still load at startup; the hub follows the job runner only once it exists.) */
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
  /^src\/kgpu\/jobs\/(job-runner|run-launch|log-follow|log-streams|job-registry|job-records)\.ts$/,
  /^src\/kgpu\/transfer\/(?!local-links\.ts$|bulk-[\w-]+\.ts$)/,
  /^src\/kgpu\/(warm|deps|ports)\/(?!pod-shell\.ts$|pod-target\.ts$)/,
  /^src\/kgpu\/sweeps\/(sweep-transit|fanout)\.ts$/,
  /^src\/(ports|jobs)\/(?!rank-filter)/,
  /^src\/telemetry\/release-when-done-command\.ts$/,
  /^src\/platform\/pod-target-python\.ts$/,
  // A pod's session and what it owns (the agent client, SFTP, bulk transfers) load when a pod is
  // first reached; the job scripts, a sweep's runs and the log panel with the first run or log shown.
  /^src\/kgpu\/ssh\/(pod-session|ssh-exec|openssh-exec)\.ts$/,
  /^src\/kgpu\/agent\//,
  /^src\/kgpu\/fs\/(remote-fs|sftp-[\w-]+)\.ts$/,
  /^src\/kgpu\/jobs\/(jobs|job-wrapper)\.ts$/,
  /^src\/kgpu\/sweeps\/(sweep|metrics|metrics-file|metrics-file-watch)\.ts$/,
  /^src\/kgpu\/launch\/rank-log\.ts$/,
  /^src\/platform\/job-log-terminal\.ts$/,
];

test('require + activate() of dist/extension.js run no feature code; a command stub loads its feature on first use', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-startup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { bundle } = await buildRecordingBundle(dir);

  const run: string[] = [];
  globalThis.__kgpuModulesRun = run;
  try {
    await withFakeVscode(async (fake) => {
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
    });
  } finally {
    globalThis.__kgpuModulesRun = undefined;
  }
});

test('each lazily loaded feature registers exactly the commands its stubs stand for (src/lazy-contributions.ts)', () =>
  withFakeVscode((fake) => {
    const { LAZY_FEATURES } = require('../../../src/lazy-contributions') as typeof import('../../../src/lazy-contributions');
    const { LIVE_POD_FEATURES } = require('../../../src/live-pod-contributions') as typeof import('../../../src/live-pod-contributions');
    assert.ok(LAZY_FEATURES.length >= 5 && LIVE_POD_FEATURES.length >= 3);
    for (const feature of [...LAZY_FEATURES, ...LIVE_POD_FEATURES]) {
      const before = fake.commandRegistrations.length;
      // The permissive context stands in for the services: registering touches them, runs nothing
      // (`ready` never resolves: the Jobs rows wait for it to list the pods' jobs).
      const services = new Proxy(fake.context, { get: (t, p) => (p === 'ready' ? new Promise(() => undefined) : t[p as string]) });
      feature
        .load()(services as never)
        .dispose();
      const registered = fake.commandRegistrations.slice(before).map((r) => r.id);
      assert.deepEqual([...registered].sort(), [...feature.ids].sort(), `the feature behind ${feature.ids.join(', ')}`);
    }
  }));

test('a stub whose feature fails to load throws that error and stays registered (the next call tries again)', () =>
  withFakeVscode((fake) => {
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
  }));

test('the live-pod features load when the first live pod appears (once), or earlier on the first call of one of their commands', () =>
  withFakeVscode(async (fake) => {
    for (const m of ['../../../src/platform/lazy/lazy-commands', '../../../src/live-pod-contributions'])
      delete require.cache[require.resolve(m)];
    const { registerLivePodContributions } =
      require('../../../src/live-pod-contributions') as typeof import('../../../src/live-pod-contributions');
    const { RentalsModel } = require('../../../src/kgpu/model/rentals-model') as typeof import('../../../src/kgpu/model/rentals-model');
    // The real rentals model over a REST stand-in whose pod list the test sets.
    let list: Pod[] = [];
    const pods = new RentalsModel(() => ({
      signedIn: true,
      api: {
        listPods: async () => list,
        getPod: async (id) => list.find((p) => p.pod_id === id) ?? Promise.reject(new Error(`no ${id}`)),
        me: async () => ({}) as never,
        gpuModels: async () => [],
      },
    }));
    const loads: string[] = [];
    const feature = (name: string, ids: string[]) => ({
      ids,
      load: () => {
        loads.push(name);
        return () => ({ dispose: () => undefined });
      },
    });
    const services = { pods, log: { error: () => undefined } } as never;
    const d = registerLivePodContributions(services, [feature('jobs', ['kgpu.a']), feature('ports', ['kgpu.b'])]);
    const pod = (id: string, phase: Pod['phase']): Pod => ({ pod_id: id, phase, gpu_model: 'rtx4090', gpu_count: 1 }) as Pod;

    await pods.refresh();
    assert.deepEqual(loads, [], 'no pod: nothing loaded');
    list = [pod('p-ended', 'Ended')];
    await pods.refresh();
    assert.deepEqual(loads, [], 'an ended pod is not a live one');
    // A command before any live pod: its feature alone.
    const stub = fake.commandRegistrations.find((r) => r.id === 'kgpu.b' && !r.disposed);
    assert.ok(stub);
    stub.handler();
    assert.deepEqual(loads, ['ports']);
    list = [pod('p-1', 'Pending'), ...list];
    await pods.refresh();
    assert.deepEqual(loads, ['ports', 'jobs'], 'the first live pod (still starting) loads the rest');
    list = [pod('p-2', 'Running'), ...list];
    await pods.refresh();
    assert.deepEqual(loads, ['ports', 'jobs'], 'loaded once');
    d.dispose();
    pods.dispose();
  }));

test('after a window reload the pod is live from the first refresh: the live-pod features load then, with no command (journey 8 in a real VS Code)', () =>
  withFakeVscode(async () => {
    for (const m of ['../../../src/platform/lazy/lazy-commands', '../../../src/live-pod-contributions'])
      delete require.cache[require.resolve(m)];
    const { registerLivePodContributions } =
      require('../../../src/live-pod-contributions') as typeof import('../../../src/live-pod-contributions');
    const { RentalsModel } = require('../../../src/kgpu/model/rentals-model') as typeof import('../../../src/kgpu/model/rentals-model');
    const running = { pod_id: 'p-1', phase: 'Running', ready: true, gpu_model: 'rtx3090', gpu_count: 1 } as Pod;
    const loads: string[] = [];
    const feature = (name: string, ids: string[]) => ({
      ids,
      load: () => {
        loads.push(name);
        return () => ({ dispose: () => undefined });
      },
    });
    // As at activation: the contributions register before the start-up refresh, whose first answer has the pod.
    const pods = new RentalsModel(() => ({
      signedIn: true,
      api: {
        listPods: async () => [running],
        getPod: async () => running,
        me: async () => ({}) as never,
        gpuModels: async () => [],
      },
    }));
    const d = registerLivePodContributions({ pods, log: { error: () => undefined } } as never, [
      feature('jobs', ['kgpu.a']),
      feature('ports', ['kgpu.b']),
    ]);
    assert.deepEqual(loads, [], 'nothing before the start-up refresh');
    await pods.refresh();
    assert.deepEqual(loads, ['jobs', 'ports'], 'the pod already there wakes every feature');
    d.dispose();
    // Registered once the model already knows the pod (a late composition): at once.
    const late = registerLivePodContributions({ pods, log: { error: () => undefined } } as never, [feature('late', ['kgpu.c'])]);
    assert.deepEqual(loads, ['jobs', 'ports', 'late']);
    late.dispose();
    pods.dispose();
  }));

type FakeRegistration = FakeVscode['commandRegistrations'][number];

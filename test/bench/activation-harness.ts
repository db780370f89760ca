/**
 * Scenario 6's measuring process: `node harness.js <bundle>` (bundled by activation.ts) requires
 * the production bundle with `vscode` answered by the fake module and runs activate(); prints
 * {requireMs, activateMs, totalMs, requireCpuMs, totalCpuMs, commands, vendorLoaded, featuresLoaded,
 * builtinsLoaded} — vendorLoaded: the dist/vendor-*.js files (esbuild.mjs) loaded by then, which
 * should be none, nor dist/features.js (featuresLoaded); *CpuMs: this process's CPU time (all
 * threads), less sensitive than the wall clock to other work on the machine.
 *
 * Besides the manifest test (test/unit/extension/manifest.test.ts), this is the ONLY place the fake
 * vscode module may be used: a VS Code window cannot time require+activate in a fresh process
 * repeatedly, and nothing here asserts behaviour — behaviour is tested in a real VS Code (test/e2e).
 */
import Module from 'node:module';
import { withFakeVscode } from '../unit/extension/fake-vscode';

/** The Node built-ins VS Code's extension host has imported before it activates any extension (the
 *  static imports of code-server 4.139.1's out/vs/workbench/api/node/extensionHostProcess.js, and
 *  `performance`): loaded before the clock starts, so the time is what the extension adds.
 *  `builtinsLoaded` lists what it loads beyond these. */
const EXTENSION_HOST_BUILTINS = [
  'assert',
  'child_process',
  'crypto',
  'events',
  'fs',
  'fs/promises',
  'http',
  'net',
  'node:module',
  'os',
  'stream',
  'string_decoder',
  'url',
  'util',
  'zlib',
];

interface Extension {
  activate(context: unknown): unknown;
  deactivate?(): unknown;
}

/** CPU time (user + system, all threads of this process) in ms. */
function cpuMs(c: NodeJS.CpuUsage): number {
  return (c.user + c.system) / 1000;
}

/** The Node built-in modules loaded so far (public and internal: what a `require('node:…')` compiled). */
function loadedBuiltins(): string[] {
  const list = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
  return list.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
}

async function main(): Promise<void> {
  const bundle = process.argv[2];
  if (!bundle) throw new Error('usage: node activation-harness.js <dist/extension.js>');
  const builtin = Module.createRequire(__filename);
  for (const m of EXTENSION_HOST_BUILTINS) builtin(m);
  void performance.now();
  const result = await withFakeVscode(async (fake) => {
    const load = Module.createRequire(__filename);
    const builtinsBefore = new Set(loadedBuiltins());
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const ext = load(bundle) as Extension;
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    await ext.activate(fake.context);
    const t2 = performance.now();
    const c2 = process.cpuUsage(c0);
    const builtinsLoaded = loadedBuiltins().filter((m) => !builtinsBefore.has(m));
    const commands = fake.registeredCommands.size;
    const vendorLoaded = Object.keys(load.cache)
      .filter((f) => /[/\\]vendor-[\w-]+\.js$/.test(f))
      .map((f) => f.split(/[/\\]/).pop());
    const featuresLoaded = Object.keys(load.cache).some((f) => /[/\\]features\.js$/.test(f));
    for (const d of fake.context.subscriptions) d.dispose();
    await ext.deactivate?.();
    return {
      requireMs: t1 - t0,
      activateMs: t2 - t1,
      totalMs: t2 - t0,
      requireCpuMs: cpuMs(c1),
      totalCpuMs: cpuMs(c2),
      commands,
      vendorLoaded,
      featuresLoaded,
      builtinsLoaded,
    };
  });
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(`activation-harness: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});

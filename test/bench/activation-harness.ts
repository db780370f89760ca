/**
 * Scenario 6's measuring process: `node harness.js <bundle>` (bundled by activation.ts) requires
 * the production bundle with `vscode` answered by the fake module and runs activate(); prints
 * {requireMs, activateMs, totalMs, commands, vendorLoaded} — vendorLoaded: the dist/vendor-*.js
 * files (esbuild.mjs) loaded by then, which should be none.
 *
 * Besides the manifest test (test/unit/extension/manifest.test.ts), this is the ONLY place the fake
 * vscode module may be used: a VS Code window cannot time require+activate in a fresh process
 * repeatedly, and nothing here asserts behaviour — behaviour is tested in a real VS Code (test/e2e).
 */
import Module from 'node:module';
import { withFakeVscode } from '../unit/extension/fake-vscode';

interface Extension {
  activate(context: unknown): unknown;
  deactivate?(): unknown;
}

async function main(): Promise<void> {
  const bundle = process.argv[2];
  if (!bundle) throw new Error('usage: node activation-harness.js <dist/extension.js>');
  const result = await withFakeVscode(async (fake) => {
    const load = Module.createRequire(__filename);
    const t0 = performance.now();
    const ext = load(bundle) as Extension;
    const t1 = performance.now();
    await ext.activate(fake.context);
    const t2 = performance.now();
    const commands = fake.registeredCommands.size;
    const vendorLoaded = Object.keys(load.cache)
      .filter((f) => /[/\\]vendor-[\w-]+\.js$/.test(f))
      .map((f) => f.split(/[/\\]/).pop());
    for (const d of fake.context.subscriptions) d.dispose();
    await ext.deactivate?.();
    return { requireMs: t1 - t0, activateMs: t2 - t1, totalMs: t2 - t0, commands, vendorLoaded };
  });
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(`activation-harness: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});

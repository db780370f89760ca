// Compiles the integration suite (test/e2e/suite/**.ts) to CommonJS under test/e2e/out/ (git-ignored):
// the extension host loads JavaScript. Each *.test.ts and index.ts becomes one bundle; `vscode`
// and packages from node_modules (mocha, …) stay external, our own imports (helpers, src/kgpu/…)
// are bundled in — so a test may import the library it checks against.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
export const SUITE_DIR = join(here, 'suite');
export const OUT_DIR = join(here, 'out');

export const SECURITY_DIR = join(here, 'security');
export const SECURITY_OUT_DIR = join(here, 'out-security');

export async function buildSuite() {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const entryPoints = readdirSync(SUITE_DIR)
    .filter((f) => f === 'index.ts' || f.endsWith('.test.ts'))
    .map((f) => join(SUITE_DIR, f));
  await bundle(entryPoints, OUT_DIR);
  return { index: join(OUT_DIR, 'index.js'), files: entryPoints.length - 1 };
}

/** The security sessions (test/e2e/security/<name>.test.ts): each its own folder under
 *  out-security/<name>/ with the suite's index.js, so a session runs exactly its one file. */
export async function buildSecuritySessions() {
  rmSync(SECURITY_OUT_DIR, { recursive: true, force: true });
  const out = {};
  for (const f of readdirSync(SECURITY_DIR).filter((n) => n.endsWith('.test.ts'))) {
    const name = f.replace(/\.test\.ts$/, '');
    const dir = join(SECURITY_OUT_DIR, name);
    await bundle({ index: join(SUITE_DIR, 'index.ts'), [`${name}.test`]: join(SECURITY_DIR, f) }, dir);
    out[name] = join(dir, 'index.js');
  }
  return out;
}

async function bundle(entryPoints, outdir) {
  await esbuild.build({
    entryPoints,
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    external: ['vscode'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await buildSuite();
  console.log(`built ${r.files} test files into ${OUT_DIR}`);
}

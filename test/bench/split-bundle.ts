/**
 * PROTOTYPE measured by the bench, not the shipped build: the extension bundle with its two heavy
 * dependencies (undici ≈ 520 KB, ssh2 ≈ 330 KB minified) split into their own files in dist/ and
 * loaded on first use. The main bundle gets a stand-in module per dependency whose exports are
 * getters (names listed at build time, so esbuild's ESM interop does not load it early) that
 * require `./undici.js` / `./ssh2.js` the first time anything is used. Activation then compiles and
 * runs ≈ 210 KB instead of ≈ 1 MB. Proposed for esbuild.mjs (see the README's Performance section).
 */
import path from 'node:path';
import * as esbuild from 'esbuild';
import { repoRoot } from './env';

const HEAVY = ['undici', 'ssh2'];
const EXTERNAL = ['vscode', 'cpu-features', '*.node', './crypto/build/Release/sshcrypto.node'];

export function lazyDependencies(names: readonly string[]): esbuild.Plugin {
  return {
    name: 'kgpu-lazy-dependencies',
    setup(build) {
      build.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (a) => ({ path: a.path, namespace: 'kgpu-lazy' }));
      build.onLoad({ filter: /.*/, namespace: 'kgpu-lazy' }, (a) => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the export names, read at build time
        const keys = Object.keys(require(require.resolve(a.path, { paths: [repoRoot] })) as object);
        const contents = [
          `let m; const load = () => (m ??= require(${JSON.stringify(`./${a.path}.js`)}));`,
          `const keys = ${JSON.stringify(keys)};`,
          'module.exports = new Proxy({}, {',
          "  get: (_, k) => (k === '__esModule' ? undefined : load()[k]),",
          '  has: (_, k) => keys.includes(k),',
          '  ownKeys: () => keys,',
          '  getOwnPropertyDescriptor: (_, k) => (keys.includes(k) ? { enumerable: true, configurable: true, get: () => load()[k] } : undefined),',
          '});',
        ].join('\n');
        return { contents, loader: 'js' };
      });
    },
  };
}

/** Build dist/extension.js + dist/undici.js + dist/ssh2.js (production options) into `distDir`. */
export async function buildSplitBundle(distDir: string): Promise<void> {
  const common: esbuild.BuildOptions = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', minify: true, sourcemap: false, legalComments: 'none', logLevel: 'silent', external: EXTERNAL };
  for (const h of HEAVY) {
    await esbuild.build({ ...common, stdin: { contents: `module.exports = require(${JSON.stringify(h)});`, resolveDir: repoRoot }, outfile: path.join(distDir, `${h}.js`) });
  }
  await esbuild.build({
    ...common,
    entryPoints: [path.join(repoRoot, 'src', 'extension.ts')],
    outfile: path.join(distDir, 'extension.js'),
    plugins: [lazyDependencies(HEAVY)],
    external: [...EXTERNAL, ...HEAVY.map((h) => `./${h}.js`)],
  });
}

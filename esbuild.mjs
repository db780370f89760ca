// Bundles the extension into CommonJS files under dist/:
//   dist/extension.js       our code (what `main` loads at activation, kept small)
//   dist/vendor-undici.js   undici, required by the REST client on first use (src/platform/lazy/rest-client.ts)
//   dist/vendor-ssh2.js     ssh2, required by the SSH layer on first use (src/platform/lazy/ssh.ts)
//   dist/vendor-yaml.js     yaml (≈ 110 KB, a fifth of the bundle), required by src/kgpu/sweeps/sweep-file.ts
//                           when a sweep file is first read
// The heavy dependencies are ~80% of the code; compiling them at `require` time made activation
// ~60 ms instead of ~15 (npm run bench -- --only activation).
//   node esbuild.mjs                 development build with sourcemaps
//   node esbuild.mjs --watch         rebuild on change
//   node esbuild.mjs --production    minified, no sourcemaps (what `npm run package` ships)
// Also imported (test/unit/extension/extension-build.ts) by the VSIX test and the activation bench: `buildExtension({ production, outdir, logLevel })`.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** npm package → its own file in dist/. The extension bundle requires `./<file>.js` instead of
 *  bundling the package; src/platform/lazy/*.ts make sure that happens on first use, not at activation. */
export const VENDOR_FILES = { undici: 'vendor-undici', ssh2: 'vendor-ssh2', yaml: 'vendor-yaml' };

/** ssh2 optionally requires native add-ons (cpu-features, its own crypto binding); both are
 *  guarded by try/catch in ssh2, so mark them external and let the bundle fall back to JS. */
const optionalNative = ['cpu-features', '*.node', './crypto/build/Release/sshcrypto.node'];

/** Resolves `undici` / `ssh2` in our code to the external `./vendor-*.js` next to the bundle. A
 *  subpath import (`ssh2/lib/…`) would bundle a second copy of the package, so it is an error. */
const vendorFiles = {
  name: 'kgpu-vendor-files',
  setup(build) {
    const names = Object.keys(VENDOR_FILES).join('|');
    build.onResolve({ filter: new RegExp(`^(${names})(/.*)?$`) }, (a) => {
      const [, pkg, subpath] = /^([^/]+)(\/.*)?$/.exec(a.path);
      if (subpath) return { errors: [{ text: `import '${pkg}' itself, not '${a.path}': ${pkg} lives in dist/${VENDOR_FILES[pkg]}.js` }] };
      return { path: `./${VENDOR_FILES[pkg]}.js`, external: true };
    });
  },
};

/** Every module of ours does `import * as vscode from 'vscode'`; esbuild turns each into
 *  `__toESM(require("vscode"))`, which copies the whole API object (hundreds of properties) once per
 *  module — 65 copies when dist/extension.js loads. Routing them through one ESM module that
 *  re-exports 'vscode' makes that one copy (`vscode_exports`), shared by all (issue 24: activation). */
const oneVscodeNamespace = {
  name: 'kgpu-one-vscode-namespace',
  setup(build) {
    build.onResolve({ filter: /^vscode$/ }, (a) =>
      a.namespace === 'kgpu-vscode' ? { path: 'vscode', external: true } : { path: 'vscode', namespace: 'kgpu-vscode' },
    );
    build.onLoad({ filter: /.*/, namespace: 'kgpu-vscode' }, () => ({ contents: "export * from 'vscode';", loader: 'js' }));
  },
};

/** The esbuild options of every file in `outdir` (default dist/): extension.js first, then the vendor files. */
export function buildOptions({ production = false, outdir = path.join(root, 'dist'), logLevel = 'info' } = {}) {
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: production ? false : 'linked',
    minify: production,
    logLevel,
    legalComments: 'none',
  };
  return [
    {
      ...common,
      entryPoints: ['src/extension.ts'],
      outfile: path.join(outdir, 'extension.js'),
      external: ['vscode'],
      plugins: [vendorFiles, oneVscodeNamespace],
    },
    ...Object.entries(VENDOR_FILES).map(([pkg, file]) => ({
      ...common,
      entryPoints: [require.resolve(pkg)],
      outfile: path.join(outdir, `${file}.js`),
      external: optionalNative,
    })),
  ];
}

/** Builds dist/ (or `outdir`) once. */
export async function buildExtension(options = {}) {
  await Promise.all(buildOptions(options).map((o) => esbuild.build(o)));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const production = process.argv.includes('--production');
  if (process.argv.includes('--watch')) {
    for (const o of buildOptions({ production })) await (await esbuild.context(o)).watch();
  } else {
    await buildExtension({ production });
  }
}

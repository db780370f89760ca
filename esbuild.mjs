// Bundles the extension into CommonJS files under dist/:
//   dist/extension.js       the core: what `main` loads at activation — the views, the status bar, the
//                           services, the REST client — and the command stubs (kept small)
//   dist/features.js        everything src/ loads on first use with a `require()` (the seams:
//                           src/lazy-contributions.ts, src/live-pod-contributions.ts, src/platform/lazy/,
//                           the notebook kernel, the debug adapter, the kgpu:// file system, Run Sweep,
//                           the job runner): required by the core on the first such `require()`
//   dist/vendor-undici.js   undici, required by the REST client on first use (src/platform/lazy/rest-client.ts)
//   dist/vendor-ssh2.js     ssh2, required by the SSH layer on first use (src/platform/lazy/ssh.ts)
//   dist/vendor-yaml.js     yaml (≈ 110 KB, a fifth of the bundle), required by src/kgpu/sweeps/sweep-file.ts
//                           when a sweep file is first read
// The heavy dependencies are ~80% of the code; compiling them at `require` time made activation
// ~60 ms instead of ~15 (npm run bench -- --only activation). The core/features split (issue 24)
// halves what activation parses and runs: esbuild bundles a `require()`d module lazily initialised,
// but still parsed with the rest when the one file loads.
// One instance of every module: a module of the core that features.js imports is not bundled
// again there but taken from the core at run time (features.js → core link → the core's own
// `require`), so module state, singletons and `instanceof` are shared (test/unit/extension/bundle-split.test.ts).
//   node esbuild.mjs                 development build with sourcemaps
//   node esbuild.mjs --watch         rebuild on change
//   node esbuild.mjs --production    minified, no sourcemaps (what `npm run package` ships)
// Also imported (test/unit/extension/extension-build.ts) by the VSIX test, the start-up test and the
// activation bench: `buildExtension({ production, outdir, logLevel, plugins })`, `outputFiles()`.
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

/** The file the core requires on the first `require()` of a seam (see the top of this file). */
export const FEATURES_FILE = 'features';

/** `require()` targets that stay in the core although src/ loads them lazily: the REST client is
 *  needed by the start-up refresh right after activation in every signed-in window (undici itself
 *  is dist/vendor-undici.js). */
const CORE_REQUIRES = new Set(['src/kgpu/api/api-client.ts']);

const rel = (p) => path.relative(root, p).split(path.sep).join('/');
const SKIP = { kgpuSkip: true };

/** Core side of the seam. A `require('./x')` in src/ of a module of src/ (not CORE_REQUIRES) becomes
 *  `features.featureModule('src/x.ts')`; the first one requires ./features.js and connects it to the
 *  core (`connect(coreModule)`). `features.entries` collects what features.js must hold;
 *  `shared` (rel paths, from the features build) is what the core lends it. */
function coreSeam(features, shared) {
  return {
    name: 'kgpu-core-seam',
    setup(build) {
      build.onResolve({ filter: /^\./ }, async (a) => {
        if (a.kind !== 'require-call' || a.pluginData?.kgpuSkip || !rel(a.importer).startsWith('src/')) return undefined;
        const r = await build.resolve(a.path, { kind: a.kind, resolveDir: a.resolveDir, importer: a.importer, pluginData: SKIP });
        if (r.errors.length > 0 || r.external) return undefined;
        const target = rel(r.path);
        if (!target.startsWith('src/') || CORE_REQUIRES.has(target)) return { path: r.path };
        features.entries.add(target);
        return { path: target, namespace: 'kgpu-feature' };
      });
      build.onLoad({ filter: /.*/, namespace: 'kgpu-feature' }, (a) => ({
        contents: `module.exports = require('kgpu-feature-link').featureModule(${JSON.stringify(a.path)});`,
        loader: 'js',
        resolveDir: root,
      }));
      build.onResolve({ filter: /^kgpu-feature-link$/ }, () => ({ path: 'link', namespace: 'kgpu-feature-link' }));
      build.onResolve({ filter: new RegExp(`^\\./${FEATURES_FILE}\\.js$`) }, (a) => ({ path: a.path, external: true }));
      build.onLoad({ filter: /.*/, namespace: 'kgpu-feature-link' }, () => ({
        contents: [
          `const CORE = {`,
          ...[...shared].sort().map((m) => `  ${JSON.stringify(m)}: () => require(${JSON.stringify(path.join(root, m))}),`),
          `};`,
          `function coreModule(m) {`,
          `  const load = CORE[m];`,
          `  if (!load) throw new Error('dist/extension.js does not hold ' + m + ' (esbuild.mjs)');`,
          `  return load();`,
          `}`,
          `let features;`,
          `export function featureModule(m) {`,
          `  if (!features) {`,
          `    const f = require('./${FEATURES_FILE}.js');`,
          `    f.connect(coreModule);`,
          `    features = f;`,
          `  }`,
          `  return features.featureModule(m);`,
          `}`,
        ].join('\n'),
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}

/** Features side: the entry maps each seam target to a lazily initialised `require()`; any module the
 *  core holds (`coreInputs`, absolute paths) is taken from the core instead of bundled again (its rel
 *  path goes into `shared`). */
function featuresSeam(entries, coreInputs, shared) {
  return {
    name: 'kgpu-features-seam',
    setup(build) {
      build.onResolve({ filter: /^kgpu-features-entry$/ }, () => ({ path: 'entry', namespace: 'kgpu-features-entry' }));
      build.onLoad({ filter: /.*/, namespace: 'kgpu-features-entry' }, () => ({
        contents: [
          `export { connect } from 'kgpu-core-link';`,
          `const FEATURES = {`,
          ...[...entries].sort().map((m) => `  ${JSON.stringify(m)}: () => require(${JSON.stringify(path.join(root, m))}),`),
          `};`,
          `export const modules = Object.keys(FEATURES);`,
          `export function featureModule(m) {`,
          `  const load = FEATURES[m];`,
          `  if (!load) throw new Error('dist/${FEATURES_FILE}.js does not hold ' + m + ' (esbuild.mjs)');`,
          `  return load();`,
          `}`,
        ].join('\n'),
        loader: 'js',
        resolveDir: root,
      }));
      build.onResolve({ filter: /^kgpu-core-link$/ }, () => ({ path: 'link', namespace: 'kgpu-core-link' }));
      build.onLoad({ filter: /.*/, namespace: 'kgpu-core-link' }, () => ({
        contents: [
          `let core;`,
          `export function connect(c) { core = c; }`,
          `export function coreModule(m) {`,
          `  if (!core) throw new Error('dist/${FEATURES_FILE}.js was required before the core connected it');`,
          `  return core(m);`,
          `}`,
        ].join('\n'),
        loader: 'js',
      }));
      build.onResolve({ filter: /.*/ }, async (a) => {
        if (a.pluginData?.kgpuSkip) return undefined;
        const r = await build.resolve(a.path, { kind: a.kind, resolveDir: a.resolveDir, importer: a.importer, pluginData: SKIP });
        if (r.errors.length > 0 || r.external || r.namespace !== 'file' || !coreInputs.has(r.path)) return undefined;
        shared.add(rel(r.path));
        return { path: rel(r.path), namespace: 'kgpu-core' };
      });
      build.onLoad({ filter: /.*/, namespace: 'kgpu-core' }, (a) => ({
        contents: `module.exports = require('kgpu-core-link').coreModule(${JSON.stringify(a.path)});`,
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}

/** The output files of a build, relative to `outdir`: extension.js first, then features.js, then the vendor files. */
export function outputFiles() {
  return ['extension.js', `${FEATURES_FILE}.js`, ...Object.values(VENDOR_FILES).map((f) => `${f}.js`)];
}

function commonOptions({ production = false, logLevel = 'info' }) {
  return {
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
}

/** Builds dist/ (or `outdir`) once: the core in two passes around the features build (the first
 *  finds the core's modules and the seams; the features build then knows what to take from the
 *  core; the last writes the core lending exactly that). `plugins`: added to our two bundles' own
 *  (the start-up test records which modules run). `split: false` builds our code as one
 *  dist/extension.js as before the split (no features.js): the activation bench's reference. */
export async function buildExtension({
  production = false,
  outdir = path.join(root, 'dist'),
  logLevel = 'info',
  plugins = [],
  split = true,
} = {}) {
  const common = commonOptions({ production, logLevel });
  const ours = { ...common, external: ['vscode'] };
  const vendor = Object.entries(VENDOR_FILES).map(([pkg, file]) =>
    esbuild.build({ ...common, entryPoints: [require.resolve(pkg)], outfile: path.join(outdir, `${file}.js`), external: optionalNative }),
  );
  const core = (features, shared) => ({
    ...ours,
    entryPoints: ['src/extension.ts'],
    outfile: path.join(outdir, 'extension.js'),
    plugins: [vendorFiles, oneVscodeNamespace, coreSeam(features, shared), ...plugins],
  });
  if (!split) {
    const one = { ...ours, entryPoints: ['src/extension.ts'], outfile: path.join(outdir, 'extension.js') };
    await Promise.all([esbuild.build({ ...one, plugins: [vendorFiles, oneVscodeNamespace, ...plugins] }), ...vendor]);
    return;
  }
  const features = { entries: new Set() };
  const probe = await esbuild.build({ ...core(features, new Set()), write: false, metafile: true, logLevel: 'silent' });
  const coreInputs = new Set(
    Object.keys(probe.metafile.inputs)
      .filter((k) => !/^[\w-]+:/.test(k))
      .map((k) => path.join(root, k)),
  );
  const shared = new Set();
  await esbuild.build({
    ...ours,
    entryPoints: ['kgpu-features-entry'],
    outfile: path.join(outdir, `${FEATURES_FILE}.js`),
    plugins: [vendorFiles, oneVscodeNamespace, featuresSeam(features.entries, coreInputs, shared), ...plugins],
  });
  await Promise.all([esbuild.build(core({ entries: new Set() }, shared)), ...vendor]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const production = process.argv.includes('--production');
  await buildExtension({ production });
  if (process.argv.includes('--watch')) {
    const { watch } = await import('node:fs');
    let timer;
    watch(path.join(root, 'src'), { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => buildExtension({ production }).catch(() => undefined), 100);
    });
  }
}

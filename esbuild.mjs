// Bundles the extension (and other entry points) into single CommonJS files under dist/.
//   node esbuild.mjs                 development build with sourcemaps
//   node esbuild.mjs --watch         rebuild on change
//   node esbuild.mjs --production    minified, no sourcemaps (what `npm run package` ships)
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** ssh2 optionally requires native add-ons (cpu-features, its own crypto binding); both are
 *  guarded by try/catch in ssh2, so mark them external and let the bundle fall back to JS. */
const optionalNative = ['cpu-features', '*.node', './crypto/build/Release/sshcrypto.node'];

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'info',
  legalComments: 'none',
};

const entries = [
  { entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', ...optionalNative] },
];

if (watch) {
  for (const e of entries) await (await esbuild.context({ ...common, ...e })).watch();
} else {
  await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e })));
}

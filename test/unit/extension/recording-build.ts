/**
 * The start-up tests' build (startup-modules.test.ts, bundle-split.test.ts): dist/ as esbuild.mjs
 * builds it, with every module of src/ recording itself when its top level runs.
 */
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type * as esbuild from 'esbuild';
import { buildExtension } from './extension-build';

const root = join(__dirname, '..', '..', '..');

declare global {
  var __kgpuModulesRun: string[] | undefined;
}

/** Builds dist/ (esbuild.mjs: extension.js, features.js, vendor files) into `dir` so that each module of
 *  src/ pushes its path onto globalThis.__kgpuModulesRun when it runs; returns extension.js's path and
 *  which bundle each module of src/ was bundled into (rel path → bundle file names). */
export async function buildRecordingBundle(dir: string): Promise<{ bundle: string; bundledInto: Map<string, string[]> }> {
  const bundledInto = new Map<string, string[]>();
  const record: esbuild.Plugin = {
    name: 'record-module-runs',
    setup(build) {
      const outfile = build.initialOptions.outfile ?? '';
      build.onLoad({ filter: /[/\\]src[/\\].*\.ts$/ }, (a) => {
        const rel = relative(root, a.path).split('\\').join('/');
        if (build.initialOptions.write !== false) bundledInto.set(rel, [...(bundledInto.get(rel) ?? []), basename(outfile)]);
        const text = readFileSync(a.path, 'utf8');
        return { contents: `globalThis.__kgpuModulesRun?.push(${JSON.stringify(rel)});\n${text}`, loader: 'ts' };
      });
    },
  };
  await buildExtension({ production: false, outdir: dir, logLevel: 'silent', plugins: [record] });
  return { bundle: join(dir, 'extension.js'), bundledInto };
}

/**
 * esbuild.mjs's build, typed, for the VSIX test and the activation bench: they build into their own
 * folder with exactly the options `npm run package` ships (esbuild.mjs has no types; this is the
 * boundary).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ExtensionBuildOptions {
  /** Minified, no sourcemaps (what the VSIX ships). Default false. */
  production?: boolean;
  /** Default: the repository's dist/. */
  outdir?: string;
  logLevel?: 'silent' | 'error' | 'warning' | 'info';
}

interface EsbuildScript {
  buildExtension(options: ExtensionBuildOptions): Promise<void>;
  buildOptions(options: ExtensionBuildOptions): ({ outfile: string } & Record<string, unknown>)[];
}

const script = path.join(__dirname, '..', '..', '..', 'esbuild.mjs');

async function load(): Promise<EsbuildScript> {
  return (await import(pathToFileURL(script).href)) as EsbuildScript;
}

/** Builds dist/extension.js and the vendor files into `options.outdir`. */
export async function buildExtension(options: ExtensionBuildOptions): Promise<void> {
  await (await load()).buildExtension(options);
}

/** The files a build writes, as names relative to `outdir` (extension.js first; no sourcemaps). */
export async function extensionOutputFiles(options: ExtensionBuildOptions = {}): Promise<string[]> {
  return (await load()).buildOptions(options).map((o) => path.basename(o.outfile));
}

/** esbuild's options for dist/extension.js alone (the first of esbuild.mjs's builds), to build it with extra plugins. */
export async function extensionBundleOptions(options: ExtensionBuildOptions): Promise<{ outfile: string } & Record<string, unknown>> {
  return (await load()).buildOptions(options)[0];
}

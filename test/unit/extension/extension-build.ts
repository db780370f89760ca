/**
 * esbuild.mjs's build, typed, for the VSIX test, the start-up test and the activation bench: they
 * build into their own folder with exactly the options `npm run package` ships (esbuild.mjs has no
 * types; this is the boundary).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';

export interface ExtensionBuildOptions {
  /** Minified, no sourcemaps (what the VSIX ships). Default false. */
  production?: boolean;
  /** Default: the repository's dist/. */
  outdir?: string;
  logLevel?: 'silent' | 'error' | 'warning' | 'info';
  /** Added to the plugins of our two bundles (dist/extension.js, dist/features.js). */
  plugins?: Plugin[];
  /** false: our code as one dist/extension.js, as before the core/features split (the bench's reference). Default true. */
  split?: boolean;
}

interface EsbuildScript {
  buildExtension(options: ExtensionBuildOptions): Promise<void>;
  outputFiles(): string[];
  FEATURES_FILE: string;
}

const script = path.join(__dirname, '..', '..', '..', 'esbuild.mjs');

async function load(): Promise<EsbuildScript> {
  return (await import(pathToFileURL(script).href)) as EsbuildScript;
}

/** Builds dist/extension.js, dist/features.js and the vendor files into `options.outdir`. */
export async function buildExtension(options: ExtensionBuildOptions): Promise<void> {
  await (await load()).buildExtension(options);
}

/** The files a build writes, as names relative to `outdir` (extension.js first, then features.js; no sourcemaps). */
export async function extensionOutputFiles(): Promise<string[]> {
  return (await load()).outputFiles();
}

// Builds what the e2e runs load: dist/extension.js (esbuild.mjs) when stale, and the VSIX users get.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('../../..', import.meta.url).pathname.replace(/\/$/, '');

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
    else newest = Math.max(newest, s.mtimeMs);
  };
  paths.forEach(visit);
  return newest;
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

/** Runs `node esbuild.mjs` unless dist/extension.js is newer than src/, package.json and esbuild.mjs. */
export function ensureExtensionBuilt({ force = false } = {}) {
  const out = join(root, 'dist', 'extension.js');
  const inputs = ['src', 'package.json', 'esbuild.mjs'].map((p) => join(root, p));
  if (!force && mtime(out) > newestMtime(inputs)) return false;
  const r = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the extension failed:\n${r.stdout}\n${r.stderr}`);
  return true;
}

/** Packages the built extension as a VSIX at `outFile` (vsce, no dependencies: the bundle holds them),
 *  unless that VSIX is newer than everything it contains. */
export function ensureVsix(outFile) {
  const inputs = ['dist', 'media', 'package.json', 'package.nls.json', 'l10n', 'README.md', 'CHANGELOG.md', 'LICENSE', '.vscodeignore'].map(
    (p) => join(root, p),
  );
  if (mtime(outFile) > newestMtime(inputs)) return false;
  const vsce = join(root, 'node_modules', '.bin', 'vsce');
  const tmp = `${outFile}.${process.pid}.vsix`; // then renamed: a concurrent run never sees half a VSIX
  const r = spawnSync(vsce, ['package', '--no-dependencies', '--out', tmp], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`vsce package failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  renameSync(tmp, outFile);
  return true;
}

/** Where this checkout's development VSIX lives in the (possibly shared, KGPU_E2E_CACHE) cache:
 *  one file per checkout, so a run from another worktree never installs this one's build (or the
 *  other way round) just because its file is newer. */
export function devVsixPath(cache) {
  return join(cache, `kgpu-dev-${createHash('sha1').update(root).digest('hex').slice(0, 10)}.vsix`);
}

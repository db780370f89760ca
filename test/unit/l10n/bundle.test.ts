/**
 * l10n/bundle.l10n.json is what `npm run l10n` (@vscode/l10n-dev export) makes from src/ now:
 * an l10n.t string added without regenerating the bundle fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getL10nJson } from '@vscode/l10n-dev';
import { root } from './localised-manifest';

type Bundle = Record<string, string | { message: string; comment: string[] }>;

/** Strings the code asks for that the bundle lacks, and bundle strings no code asks for. */
function bundleDrift(fresh: Bundle, committed: Bundle): { missing: string[]; stale: string[] } {
  return {
    missing: Object.keys(fresh).filter((k) => !(k in committed)),
    stale: Object.keys(committed).filter((k) => !(k in fresh)),
  };
}

test('the committed l10n/bundle.l10n.json is up to date with the code (run `npm run l10n` after adding a string)', (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.l10n, './l10n', 'package.json points VS Code at the bundles');
  const script: string = pkg.scripts.l10n;
  assert.match(script, /^vscode-l10n-dev export --outDir \.\/l10n \.\/src$/);
  const out = mkdtempSync(join(tmpdir(), 'kgpu-l10n-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  // The npm script's own command, writing to a temp folder instead of l10n/.
  execFileSync(process.execPath, [join(root, 'node_modules', '@vscode', 'l10n-dev', 'dist', 'cli.js'), 'export', '--outDir', out, './src'], {
    cwd: root,
    stdio: 'pipe',
  });
  const fresh: Bundle = JSON.parse(readFileSync(join(out, 'bundle.l10n.json'), 'utf8'));
  const committed: Bundle = JSON.parse(readFileSync(join(root, 'l10n', 'bundle.l10n.json'), 'utf8'));
  assert.deepEqual(bundleDrift(fresh, committed), { missing: [], stale: [] }, 'run `npm run l10n` and commit l10n/bundle.l10n.json');
  assert.deepEqual(committed, fresh);
});

test('the check itself: a new l10n.t string the bundle lacks is reported', async () => {
  const committed: Bundle = JSON.parse(readFileSync(join(root, 'l10n', 'bundle.l10n.json'), 'utf8'));
  const [known] = Object.keys(committed);
  const fresh = (await getL10nJson([
    {
      extension: '.ts',
      contents: `import * as vscode from 'vscode';\nvscode.l10n.t(${JSON.stringify(known)});\nvscode.l10n.t('kgpu: a brand new message {0}', 1);\n`,
    },
  ])) as Bundle;
  assert.deepEqual(bundleDrift(fresh, committed).missing, ['kgpu: a brand new message {0}']);
});

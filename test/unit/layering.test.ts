/**
 * The layers, enforced (README "Architecture"):
 * - src/kgpu/ is a plain Node library: no module in it imports `vscode`, directly or through
 *   another import, nor anything outside src/kgpu/ (the editor folders).
 * - src/platform/ holds the services the contributions share; it imports only itself and the core.
 * - Every other folder of src/ is a contribution (views/, commands/, files/, jobs/, and any new
 *   feature folder): it imports its own folder, the services (platform/) and the core — never
 *   another contribution. Shared state lives in the services, not in a contribution's module.
 * - src/extension.ts composes, so it may import everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const src = resolve(__dirname, '../../src');
const core = join(src, 'kgpu');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Module specifiers of static imports, re-exports and dynamic imports/requires. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const re of [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /\bimport\s+['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) {
    for (const m of text.matchAll(re)) out.push(m[1]);
  }
  return out;
}

/** The file a relative specifier names, if it is one of ours. */
function target(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  return [`${base}.ts`, join(base, 'index.ts'), base].find((p) => p.endsWith('.ts') && existsSync(p));
}

/** The top folder of src/ a file lives in: 'kgpu', 'platform', 'views'…, or '' for src/extension.ts. */
function area(file: string): string {
  const parts = relative(src, file).split(sep);
  return parts.length > 1 ? parts[0] : '';
}

/** Why `from` may not import `to` (undefined when it may). */
export function forbidden(fromArea: string, toArea: string): string | undefined {
  if (fromArea === toArea || fromArea === '') return undefined;
  if (fromArea === 'kgpu') return 'the core (src/kgpu) imports nothing from the editor folders';
  if (toArea === 'kgpu') return undefined;
  if (toArea === '') return 'only src/extension.ts composes; nothing imports it';
  if (fromArea === 'platform') return `the services (src/platform) import no contribution (src/${toArea})`;
  if (toArea === 'platform') return undefined;
  return `a contribution (src/${fromArea}) imports another (src/${toArea}): share it through the services (src/platform)`;
}

test('no module under src/kgpu imports vscode, even transitively', () => {
  const files = tsFiles(core);
  assert.ok(files.length > 5);
  const offenders: string[] = [];
  for (const file of files) {
    const seen = new Set<string>();
    const stack = [file];
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const spec of specifiers(readFileSync(f, 'utf8'))) {
        if (spec === 'vscode') offenders.push(`${relative(core, file)} (via ${relative(src, f)})`);
        else if (spec.startsWith('.')) {
          const t = target(f, spec);
          if (t) stack.push(t);
        }
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test('imports between the folders of src/ follow the layers (core ← services ← contributions ← extension.ts)', () => {
  const files = tsFiles(src);
  assert.ok(files.some((f) => area(f) === 'platform') && files.some((f) => area(f) === 'views'), 'src/platform and src/views exist');
  const offenders: string[] = [];
  for (const file of files) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const t = target(file, spec);
      if (!t) {
        offenders.push(`${relative(src, file)}: '${spec}' resolves to no .ts file under src/`);
        continue;
      }
      if (!t.startsWith(src + sep)) {
        offenders.push(`${relative(src, file)}: '${spec}' leaves src/`);
        continue;
      }
      const why = forbidden(area(file), area(t));
      if (why) offenders.push(`${relative(src, file)} → ${relative(src, t)}: ${why}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the rule itself: what is allowed and what is not', () => {
  assert.equal(forbidden('views', 'platform'), undefined);
  assert.equal(forbidden('views', 'kgpu'), undefined);
  assert.equal(forbidden('jobs', 'jobs'), undefined);
  assert.equal(forbidden('', 'commands'), undefined);
  assert.match(forbidden('kgpu', 'platform') ?? '', /core/);
  assert.match(forbidden('platform', 'jobs') ?? '', /services/);
  assert.match(forbidden('jobs', 'commands') ?? '', /contribution/);
  assert.match(forbidden('notebook', 'files') ?? '', /contribution/, 'a new feature folder is a contribution too');
  assert.deepEqual(specifiers(`import x from './a';\nexport { y } from "../b";\nconst z = require('./c'); await import('./d');`), [
    './a',
    '../b',
    './d',
    './c',
  ]);
});

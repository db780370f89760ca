/** src/kgpu/ is a plain Node library: no module in it may import `vscode`, directly or through another import. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(__dirname, '../../../src/kgpu');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Module specifiers of static imports, re-exports and dynamic imports/requires. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const re of [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s+['"]([^'"]+)['"]/g, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g]) {
    for (const m of text.matchAll(re)) out.push(m[1]);
  }
  return out;
}

test('no module under src/kgpu imports vscode, even transitively', () => {
  const files = tsFiles(root);
  assert.ok(files.length > 5);
  const offenders: string[] = [];
  for (const file of files) {
    const seen = new Set<string>();
    const stack = [file];
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const spec of specifiers(f)) {
        if (spec === 'vscode') offenders.push(`${file.slice(root.length + 1)} (via ${f.slice(resolve(root, '..').length + 1)})`);
        else if (spec.startsWith('.')) {
          const base = resolve(dirname(f), spec);
          const target = [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p));
          if (target) stack.push(target);
        }
      }
    }
  }
  assert.deepEqual(offenders, []);
});

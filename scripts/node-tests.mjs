// What `npm test` and `npm run test:repeat` share: which files are node tests, and how they run
// (Node's test runner through tsx, two files at a time, KGPU_TEST=1).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;

/** Every *.test.ts under `dir` (not under e2e/ or fixtures/), relative to the repository root, sorted. */
export function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'e2e' && name !== 'fixtures') out.push(...findTests(p));
    } else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

/** Files, folders (searched like `test/`) and globs (`*`, `?` within a name, quoted or already
 *  expanded by the shell) → the test files they name, sorted. Other files a glob names (fixtures,
 *  helpers) are left out; an argument that names nothing is an error. */
export function expandTestArgs(args) {
  const files = new Set();
  for (const arg of args) {
    const paths = /[*?]/.test(arg) ? glob(arg) : existsSync(resolve(root, arg)) ? [relative(root, resolve(root, arg))] : [];
    if (paths.length === 0) throw new Error(`nothing matches ${arg}`);
    for (const p of paths) {
      if (statSync(join(root, p)).isDirectory()) findTests(join(root, p)).forEach((t) => files.add(t));
      else if (p.endsWith('.test.ts')) files.add(p);
    }
  }
  return [...files].sort();
}

function glob(pattern) {
  const rel = relative(root, resolve(root, pattern));
  let paths = [''];
  for (const part of rel.split('/')) {
    if (!/[*?]/.test(part)) {
      paths = paths.map((p) => join(p, part)).filter((p) => existsSync(join(root, p)));
      continue;
    }
    const re = new RegExp(
      `^${part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    );
    paths = paths.flatMap((p) => {
      const dir = join(root, p);
      return existsSync(dir) && statSync(dir).isDirectory()
        ? readdirSync(dir)
            .filter((n) => re.test(n))
            .sort()
            .map((n) => join(p, n))
        : [];
    });
  }
  return paths;
}

/** The node test run of `files`: command, arguments and environment (`reporters`: --test-reporter… flags). */
export function nodeTestCommand(files, reporters = ['--test-reporter=spec']) {
  return {
    cmd: process.execPath,
    args: ['--import', 'tsx', '--test', ...reporters, '--test-concurrency=2', ...files],
    env: { ...process.env, KGPU_TEST: '1' },
  };
}

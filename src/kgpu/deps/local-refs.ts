/**
 * Local packages a project's dependency files name — `-e ./lib`, `./lib`, `./dist/x.whl`,
 * `mylib @ file:./lib` in a requirements file, `"mylib @ file:./lib"` in pyproject.toml's
 * dependencies — are part of the environment's hash, so a change in one makes a new environment:
 * an editable one (`-e`) by its build metadata (pyproject.toml, setup.py, setup.cfg: its code is
 * used in place), any other by all its files (its code is copied into the environment). pod/deps.py
 * hashes the same way in the pod (local_package_files), so the same bytes give the same environment.
 *
 * Paths are relative to the project folder (pip runs there), must stay inside the synced folder
 * (symlinks are never followed), and are bounded: MAX_PACKAGE_FILES files per folder (a larger one
 * counts as "too many", whatever its files), MAX_DEP_FILE_BYTES per file (larger ones are left
 * out), MAX_ARCHIVE_BYTES for a wheel or sdist named directly.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface LocalRef {
  path: string;
  editable: boolean;
}

/** Files in one non-editable local package folder hashed at most (more: "too many"). */
export const MAX_PACKAGE_FILES = 1000;
/** A wheel / sdist named directly larger than this is not hashed. */
export const MAX_ARCHIVE_BYTES = 64 << 20;
const MAX_FILE_BYTES = 1 << 20; // plan.ts MAX_DEP_FILE_BYTES
const SKIP_DIRS = new Set(['.git', '__pycache__', 'build', 'dist', '.venv', 'venv', 'node_modules', '.mypy_cache', '.pytest_cache']);
const METADATA = ['pyproject.toml', 'setup.py', 'setup.cfg'];

/** A reference's path without quotes, extras, markers or an #egg= fragment; undefined when it is
 *  not local (a URL, an absolute path, ${VARS}). */
function cleanRef(raw: string): string | undefined {
  let ref = raw.replace(/^(['"])(.*)\1$/, '$2');
  ref = ref.replace(/[;#].*$/, '').replace(/\[[^\]]*\]$/, '');
  if (ref.startsWith('file:')) ref = ref.slice(5);
  if (!ref || ref.includes('://') || ref.includes('${') || ref.startsWith('/') || ref.startsWith('\\')) return undefined;
  return ref;
}

/** The local references of a requirements file (pip's syntax; `\` continuations, comments). */
export function requirementLocalRefs(text: string): LocalRef[] {
  const out: LocalRef[] = [];
  for (const raw of text.replace(/\\\r?\n/g, '').split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    let m = /^(?:-e|--editable)(?:\s*=\s*|\s+|(?=[.'"]))(\S+)/.exec(line);
    if (m) {
      const ref = cleanRef(m[1]);
      if (ref) out.push({ path: ref, editable: true });
      continue;
    }
    m = /^(\.{1,2}(?:[/\\]\S*)?|file:\S+)$/.exec(line.split(/\s+/)[0] ?? '') ?? /^[A-Za-z0-9][\w.\-[\], ]*@\s*(file:\S+)/.exec(line);
    if (m) {
      const ref = cleanRef(m[1]);
      if (ref) out.push({ path: ref, editable: false });
    }
  }
  return out;
}

/** The local references among pyproject.toml's dependency strings (`name @ file:./lib`). */
export function pyprojectLocalRefs(text: string): LocalRef[] {
  const out: LocalRef[] = [];
  for (const m of text.matchAll(/["'][A-Za-z0-9][\w.\-[\], ]*@\s*(file:[^"'\s;]+)[^"']*["']/g)) {
    const ref = cleanRef(m[1]);
    if (ref) out.push({ path: ref, editable: false });
  }
  return out;
}

/** realpath, or undefined (also plan.ts's). */
export function real(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

function regularFile(p: string, max: number): Buffer | undefined {
  try {
    const st = fs.lstatSync(p);
    if (!st.isFile() || st.size > max) return undefined;
    return fs.readFileSync(p);
  } catch {
    return undefined;
  }
}

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A folder's regular files (relative, POSIX), symlinks and SKIP_DIRS left out; undefined when
 *  there are more than MAX_PACKAGE_FILES. */
function packageFiles(dir: string): string[] | undefined {
  const out: string[] = [];
  const walk = (d: string, rel: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return true;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (SKIP_DIRS.has(e.name) || e.name.endsWith('.egg-info')) continue;
        if (!walk(path.join(d, e.name), r)) return false;
      } else if (e.isFile()) {
        out.push(r);
        if (out.length > MAX_PACKAGE_FILES) return false;
      }
    }
    return true;
  };
  return walk(dir, '') ? out.sort(byUtf8) : undefined;
}

/**
 * The hash entries of `refs` (in order; each file once): `-e <rel>/<metadata file>`,
 * `pkg <rel>/<file>`, `pkg <rel>` for an archive, `pkg <rel>/ (too many files)`. `top` is the
 * synced folder, `projectDir` the folder the references are relative to (both local paths).
 */
export function localPackageFiles(top: string, projectDir: string, refs: readonly LocalRef[]): { name: string; bytes: Buffer }[] {
  const realTop = real(top);
  if (!realTop) return [];
  const relOf = (p: string): string | undefined => {
    const rel = path.relative(realTop, p);
    return rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel.split(path.sep).join('/');
  };
  const seen = new Set<string>();
  const out: { name: string; bytes: Buffer }[] = [];
  const add = (name: string, file: string, max: number): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const bytes = regularFile(file, max);
    if (bytes) out.push({ name, bytes });
  };
  for (const ref of refs) {
    const target = path.resolve(projectDir, ref.path);
    const parent = real(path.dirname(target));
    if (!parent) continue;
    const resolved = path.join(parent, path.basename(target));
    let st: fs.Stats;
    try {
      st = fs.lstatSync(resolved);
    } catch {
      continue;
    }
    const rel = relOf(resolved);
    if (rel === undefined) continue;
    const at = (f: string): string => (rel ? `${rel}/${f}` : f);
    if (st.isFile()) add(`pkg ${rel}`, resolved, MAX_ARCHIVE_BYTES);
    else if (!st.isDirectory()) continue;
    else if (ref.editable) for (const f of METADATA) add(`-e ${at(f)}`, path.join(resolved, f), MAX_FILE_BYTES);
    else {
      const files = packageFiles(resolved);
      if (!files) {
        const key = `${resolved}${path.sep}`;
        if (!seen.has(key)) {
          seen.add(key);
          out.push({ name: `pkg ${at('')} (too many files)`, bytes: Buffer.alloc(0) });
        }
      } else for (const f of files) add(`pkg ${at(f)}`, path.join(resolved, ...f.split('/')), MAX_FILE_BYTES);
    }
  }
  return out;
}

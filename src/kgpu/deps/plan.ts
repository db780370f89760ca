/**
 * Which dependency files a run's project has, and the virtual environment in the pod that holds
 * them: one per project and dependency-file hash, `<remoteRoot>/.kgpu/venvs/<project>-<hash>`.
 * Computed here, from the local folder about to be synced (no round trip), so a run whose
 * environment is installed already costs nothing extra (gate.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PLAIN_INTERPRETER } from '../warm';
import { localPackageFiles, pyprojectLocalRefs, real, requirementLocalRefs } from './local-refs';

/** The files that declare a project's dependencies, in the order they are installed. */
export const DEP_FILES = ['requirements.txt', 'pyproject.toml', 'environment.yml'] as const;
export type DepFile = (typeof DEP_FILES)[number];

/** A dependency file larger than this is not read (nobody writes one; a generated lock file of
 *  thousands of pins is still far below). */
export const MAX_DEP_FILE_BYTES = 1 << 20;

/** At most this many files pulled in by `-r` / `-c` (nested) are hashed; more are ignored. */
export const MAX_INCLUDED_FILES = 32;

/** Where the environments live under the synced folders' parent (beside the jobs' .kgpu/jobs). */
export const VENVS_DIR = '.kgpu/venvs';

export interface DepsPlan {
  /** The folder with the dependency files, in the pod (the synced folder or one of its subfolders). */
  projectDir: string;
  /** The same folder here. */
  localDir: string;
  /** The dependency files found there. */
  files: DepFile[];
  /** Files those pull in with `-r` / `-c` (nested), relative to the synced folder (POSIX): part
   *  of the hash, so editing one reinstalls. */
  included: string[];
  /** The files of local packages they name (`-e <rel>/pyproject.toml`, `pkg <rel>/<file>`), in
   *  the hash: a change in one reinstalls (local-refs.ts). */
  localPackages: string[];
  /** 16 hex digits of the sha256 of the interpreter and the files' bytes. */
  hash: string;
  /** The virtual environment in the pod. */
  venvDir: string;
  /** Its interpreter: what the job runs. */
  python: string;
  /** kgpu.python: the interpreter the environment is made from. */
  basePython: string;
}

export interface DepsPlanInput {
  /** The local folder that is synced. */
  folder: string;
  /** Its copy in the pod. */
  remoteDir: string;
  /** The script, relative to `folder` (POSIX separators): dependency files are looked for in its
   *  folder, then each parent up to `folder`. Default: `folder` only. */
  script?: string;
  /** kgpu.python: only a plain interpreter ("python", "/usr/bin/python3.11") gets an environment;
   *  a command (`uv run python`) manages its own. */
  python: string;
  /** Parent of the environments in the pod (default: `<remoteDir's parent>/.kgpu/venvs`). */
  venvsRoot?: string;
}

/** A pyproject.toml counts only when it declares dependencies ([project] dependencies = [...]). */
function declaresDependencies(text: string): boolean {
  return /^\s*\[project\]\s*$/m.test(text) && /^\s*dependencies\s*=\s*\[/m.test(text);
}

function readDepFile(file: string): Buffer | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return undefined;
  }
  // A regular file only: a symlink is never followed out of the synced folder.
  if (!st.isFile() || st.size > MAX_DEP_FILE_BYTES) return undefined;
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The files a requirements file names with -r/--requirement or -c/--constraint (pip's syntax:
 *  `-r x`, `-rx`, `-r=x`, `--requirement x`, `--requirement=x`), comments and `\` continuations
 *  as pip reads them. URLs and paths with ${VARS} are left out (nothing local to hash). */
export function referencedFiles(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/\\\r?\n/g, '').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    const m = /^(?:-[rc]\s*=?\s*|--(?:requirement|constraint)(?:\s*=\s*|\s+))(\S+)/.exec(line);
    if (!m) continue;
    const ref = m[1].replace(/^(['"])(.*)\1$/, '$2');
    if (!ref || ref.includes('://') || ref.includes('${') || ref.startsWith('file:')) continue;
    out.push(ref);
  }
  return out;
}

/**
 * The files requirements files pull in, breadth first, each once: only regular files inside the
 * synced folder (a path or a symlinked folder leading out of it is never followed), at most
 * MAX_INCLUDED_FILES, each read as the top files are (≤ MAX_DEP_FILE_BYTES).
 */
function includedFiles(folder: string, roots: { file: string; bytes: Buffer }[]): { name: string; bytes: Buffer }[] {
  const top = real(folder);
  if (!top) return [];
  const inside = (p: string): boolean => {
    const rel = path.relative(top, p);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  const seen = new Set(roots.map((r) => real(r.file)).filter((r): r is string => !!r));
  const out: { name: string; bytes: Buffer }[] = [];
  const queue = [...roots];
  while (queue.length && out.length < MAX_INCLUDED_FILES) {
    const { file, bytes } = queue.shift()!;
    for (const ref of referencedFiles(bytes.toString('utf8'))) {
      if (out.length >= MAX_INCLUDED_FILES) break;
      const target = path.resolve(path.dirname(file), ref);
      const dir = real(path.dirname(target));
      if (!dir || !inside(path.join(dir, path.basename(target)))) continue;
      const resolved = path.join(dir, path.basename(target));
      if (seen.has(resolved)) continue;
      seen.add(resolved);
      const b = readDepFile(resolved);
      if (!b) continue;
      out.push({ name: `-r ${path.relative(top, resolved).split(path.sep).join('/')}`, bytes: b });
      queue.push({ file: resolved, bytes: b });
    }
  }
  return out;
}

/** The environment name's project part: the folder's name in characters safe in a path and a
 *  plain interpreter's name (warm starts need one). */
export function venvName(folderName: string): string {
  const s = folderName
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/^[._-]+/, '')
    .slice(0, 40);
  return s || 'project';
}

/** The hash of an environment's inputs — pod/deps.py records it; the same bytes give the same environment. */
export function depsHash(python: string, files: readonly { name: string; bytes: Buffer }[]): string {
  const h = createHash('sha256').update(`kgpu-deps 1\0${python}\0`);
  for (const f of files) h.update(`${f.name}\0${f.bytes.length}\0`).update(f.bytes);
  return h.digest('hex').slice(0, 16);
}

/** The project's dependency plan, or undefined when it declares none (or kgpu.python is a command). */
export function depsPlan(input: DepsPlanInput): DepsPlan | undefined {
  const python = input.python.trim() || 'python';
  if (!PLAIN_INTERPRETER.test(python)) return undefined;
  const parts = input.script
    ? input.script
        .split('/')
        .slice(0, -1)
        .filter((p) => p && p !== '.')
    : [];
  if (parts.includes('..')) return undefined;
  for (let n = parts.length; n >= 0; n--) {
    const rel = parts.slice(0, n);
    const localDir = path.join(input.folder, ...rel);
    const found: { name: DepFile; bytes: Buffer }[] = [];
    for (const name of DEP_FILES) {
      const bytes = readDepFile(path.join(localDir, name));
      if (!bytes || (name === 'pyproject.toml' && !declaresDependencies(bytes.toString('utf8')))) continue;
      found.push({ name, bytes });
    }
    if (!found.length) continue;
    const projectDir = path.posix.join(input.remoteDir, ...rel);
    const req = found.find((f) => f.name === 'requirements.txt');
    const included = req ? includedFiles(input.folder, [{ file: path.join(localDir, req.name), bytes: req.bytes }]) : [];
    // Local packages they name (`-e ./lib`, `mylib @ file:./lib`): a change in one reinstalls.
    const pyproject = found.find((f) => f.name === 'pyproject.toml');
    const refs = [
      ...[...(req ? [req.bytes] : []), ...included.map((f) => f.bytes)].flatMap((b) => requirementLocalRefs(b.toString('utf8'))),
      ...(pyproject ? pyprojectLocalRefs(pyproject.bytes.toString('utf8')) : []),
    ];
    const local = localPackageFiles(input.folder, localDir, refs);
    const hash = depsHash(python, [...found, ...included, ...local]);
    const root = (input.venvsRoot ?? path.posix.join(path.posix.dirname(input.remoteDir), VENVS_DIR)).replace(/\/+$/, '');
    const venvDir = `${root}/${venvName(path.posix.basename(projectDir))}-${hash}`;
    return {
      projectDir,
      localDir,
      files: found.map((f) => f.name),
      included: included.map((f) => f.name.slice(3)),
      localPackages: local.map((f) => f.name),
      hash,
      venvDir,
      python: `${venvDir}/bin/python`,
      basePython: python,
    };
  }
  return undefined;
}

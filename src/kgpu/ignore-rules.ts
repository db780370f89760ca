/**
 * Which files of a local folder get synced: every regular file, minus `.git/` and `.kgpu/`,
 * minus what `.gitignore` files say (nested ones too, with git's precedence: a deeper file can
 * re-include what a shallower one ignored; an ignored directory is not entered), minus the
 * `kgpu.syncExclude` patterns (gitignore syntax, relative to the folder root; they always win).
 * Symlinks to files are followed (their content is synced); symlinks to directories are skipped.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

export interface LocalFile {
  /** Relative path with `/` separators. */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
  mode: number;
}

export interface WalkOptions {
  /** Extra patterns in gitignore syntax (kgpu.syncExclude). */
  exclude?: readonly string[];
  /** Honour .gitignore files (default true). */
  gitignore?: boolean;
  signal?: AbortSignal;
}

const ALWAYS_SKIPPED_DIRS = new Set(['.git', '.kgpu']);

export class IgnoreRules {
  private readonly exclude: Ignore;
  constructor(exclude: readonly string[] = []) {
    this.exclude = ignore().add([...exclude]);
  }

  /** `levels`: the .gitignore rules of each ancestor directory, shallowest first. */
  ignored(rel: string, isDir: boolean, levels: readonly { base: string; rules: Ignore }[]): boolean {
    const probe = isDir ? rel + '/' : rel;
    if (this.exclude.ignores(probe)) return true;
    let verdict = false;
    for (const { base, rules } of levels) {
      const sub = base === '' ? probe : probe.slice(base.length + 1);
      const t = rules.test(sub);
      if (t.ignored) verdict = true;
      else if (t.unignored) verdict = false;
    }
    return verdict;
  }
}

/** Every file to sync under `root`, sorted by relative path. */
export async function walkTree(root: string, options: WalkOptions = {}): Promise<LocalFile[]> {
  const rules = new IgnoreRules(options.exclude);
  const useGitignore = options.gitignore !== false;
  const out: LocalFile[] = [];

  async function visit(relDir: string, levels: { base: string; rules: Ignore }[]): Promise<void> {
    if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error('Scanning the folder was cancelled.');
    const absDir = relDir === '' ? root : path.join(root, ...relDir.split('/'));
    const entries = await fsp.readdir(absDir, { withFileTypes: true });
    let here = levels;
    if (useGitignore && entries.some((e) => e.name === '.gitignore' && !e.isDirectory())) {
      try {
        const text = await fsp.readFile(path.join(absDir, '.gitignore'), 'utf8');
        here = [...levels, { base: relDir, rules: ignore().add(text) }];
      } catch {
        /* unreadable .gitignore: no rules from it */
      }
    }
    const subdirs: string[] = [];
    for (const e of entries) {
      const rel = relDir === '' ? e.name : `${relDir}/${e.name}`;
      const abs = path.join(absDir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await fsp.stat(abs).catch(() => undefined);
        if (!st || st.isDirectory()) continue; // dangling, or a directory link (cycles): skipped
        isFile = st.isFile();
        isDir = false;
      }
      if (isDir) {
        if (ALWAYS_SKIPPED_DIRS.has(e.name)) continue;
        if (!rules.ignored(rel, true, here)) subdirs.push(rel);
      } else if (isFile) {
        if (rules.ignored(rel, false, here)) continue;
        const st = await fsp.stat(abs).catch(() => undefined);
        if (st?.isFile()) out.push({ rel, abs, size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
      }
    }
    for (const d of subdirs) await visit(d, here);
  }

  await visit('', []);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/**
 * Which files of a local folder get synced: every regular file, minus `.git/` and `.kgpu/`,
 * minus what `.gitignore` files say (nested ones too, with git's precedence: a deeper file can
 * re-include what a shallower one ignored; an ignored directory is not entered), minus the
 * `kgpu.syncExclude` patterns (gitignore syntax, relative to the folder root; they always win).
 * Symbolic links are never followed out of the folder (local-links.ts): a link whose real path is
 * inside it is listed as a link (`link`: its text in the pod); the others are skipped and listed.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { classifyLink, type SkippedLink } from './local-links';

export interface LocalFile {
  /** Relative path with `/` separators. */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
  mode: number;
  /** A symbolic link to recreate in the pod: its text there (relative, inside the folder). `size`
   *  is then the text's length in bytes (what `stat` shows for a link), and nothing is read. */
  link?: string;
}

export interface TreeScan {
  files: LocalFile[];
  /** Links not synced: out of the folder, loops, dangling. */
  skippedLinks: SkippedLink[];
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
  return (await scanTree(root, options)).files;
}

/** Every file (and link to recreate) under `root`, sorted by relative path, and the links skipped. */
export async function scanTree(root: string, options: WalkOptions = {}): Promise<TreeScan> {
  const rules = new IgnoreRules(options.exclude);
  const useGitignore = options.gitignore !== false;
  const out: LocalFile[] = [];
  const skippedLinks: SkippedLink[] = [];
  const realRoot = await fsp.realpath(root);

  async function visit(relDir: string, levels: { base: string; rules: Ignore }[]): Promise<void> {
    if (options.signal?.aborted)
      throw options.signal.reason instanceof Error ? options.signal.reason : new Error('Scanning the folder was cancelled.');
    const absDir = relDir === '' ? root : path.join(root, ...relDir.split('/'));
    const entries = await fsp.readdir(absDir, { withFileTypes: true });
    let here = levels;
    if (useGitignore && entries.some((e) => e.name === '.gitignore' && e.isFile())) {
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
      if (e.isSymbolicLink()) {
        const v = await classifyLink(realRoot, abs, rel);
        if (v.kind === 'skip') {
          if (!rules.ignored(rel, false, here)) skippedLinks.push({ rel, reason: v.reason });
          continue;
        }
        if (rules.ignored(rel, v.isDir, here)) continue;
        const st = await fsp.lstat(abs).catch(() => undefined);
        if (st) out.push({ rel, abs, size: Buffer.byteLength(v.target), mtimeMs: st.mtimeMs, mode: 0o777, link: v.target });
      } else if (e.isDirectory()) {
        if (ALWAYS_SKIPPED_DIRS.has(e.name)) continue;
        if (!rules.ignored(rel, true, here)) subdirs.push(rel);
      } else if (e.isFile()) {
        if (rules.ignored(rel, false, here)) continue;
        const st = await fsp.lstat(abs).catch(() => undefined);
        if (st?.isFile()) out.push({ rel, abs, size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
      }
    }
    for (const d of subdirs) await visit(d, here);
  }

  await visit('', []);
  const byRel = (a: { rel: string }, b: { rel: string }): number => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);
  return { files: out.sort(byRel), skippedLinks: skippedLinks.sort(byRel) };
}

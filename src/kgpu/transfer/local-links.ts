/**
 * Symbolic links in a local folder that is synced or uploaded to a pod. A link is never followed
 * out of the folder: whatever its real path (after every link on the way) is outside the folder,
 * it is skipped and listed — a repository's `data/labels.txt -> ../../.ssh/id_ed25519` must not
 * ship the key. A link whose real path is inside the folder is recreated in the pod as a link
 * (relative, to the same place), not replaced by a copy: nothing is uploaded twice, a link to the
 * folder itself or an ancestor cannot make the walk endless, and a file the sync excludes (`.env`)
 * does not travel under another name. Loops and dangling links are skipped, never fatal.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export type SkipReason = 'outside' | 'loop' | 'dangling';

export interface SkippedLink {
  /** Relative path of the link, `/`-separated. */
  rel: string;
  reason: SkipReason;
}

export type LinkVerdict =
  /** `target`: the link's new text in the pod, relative to the link's folder (posix). */
  { kind: 'inside'; target: string; isDir: boolean } | { kind: 'skip'; reason: SkipReason };

/** True when `p` is `root` or below it (both absolute, resolved). */
export function isInside(root: string, p: string): boolean {
  const r = path.relative(root, p);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r) && r.split(path.sep)[0] !== '..');
}

/**
 * What to do with the link at `abs` (relative path `rel` in the folder whose real path is
 * `realRoot`; the folders above the link inside the folder are real folders, not links).
 */
export async function classifyLink(realRoot: string, abs: string, rel: string): Promise<LinkVerdict> {
  let real: string;
  try {
    real = await fsp.realpath(abs);
  } catch (e) {
    return { kind: 'skip', reason: (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'loop' : 'dangling' };
  }
  if (!isInside(realRoot, real)) return { kind: 'skip', reason: 'outside' };
  const st = await fsp.stat(real).catch(() => undefined);
  if (!st) return { kind: 'skip', reason: 'dangling' };
  const targetRel = path.relative(realRoot, real).split(path.sep).join('/');
  const fromDir = path.posix.dirname(rel);
  const target = path.posix.relative(fromDir === '.' ? '' : fromDir, targetRel) || '.';
  return { kind: 'inside', target, isDir: st.isDirectory() };
}

/** One line for a summary: "not uploaded: 2 symlinks that lead outside the folder (a, b); …". */
export function describeSkippedLinks(skipped: readonly SkippedLink[], maxNames = 8): string {
  if (skipped.length === 0) return '';
  const groups: [SkipReason, string, string][] = [
    ['outside', 'symlink that leads outside the folder', 'symlinks that lead outside the folder'],
    ['loop', 'symlink loop', 'symlink loops'],
    ['dangling', 'dangling symlink', 'dangling symlinks'],
  ];
  const parts: string[] = [];
  for (const [reason, one, many] of groups) {
    const names = skipped
      .filter((s) => s.reason === reason)
      .map((s) => s.rel)
      .sort();
    if (names.length === 0) continue;
    const shown = names.slice(0, maxNames).join(', ') + (names.length > maxNames ? `, … and ${names.length - maxNames} more` : '');
    parts.push(`${names.length} ${names.length === 1 ? one : many} (${shown})`);
  }
  return `not uploaded: ${parts.join('; ')}`;
}

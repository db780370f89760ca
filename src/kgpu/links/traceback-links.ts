/**
 * Links in a job's log: the places a Python traceback (or a warning, or pdb) names, and where each
 * one is for the editor — the local file the pod's copy was synced from when there is one, else
 * the file in the pod (`kgpu://`). Plain Node; the terminal link provider (src/links/) is a thin
 * adapter over it.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isInside } from '../transfer/local-links';

export interface TracebackLink {
  /** Where the link starts in the line, and its length (the path and the line number). */
  startIndex: number;
  length: number;
  /** The path as the log wrote it (absolute in the pod, or relative to the job's folder). */
  path: string;
  /** 1-based; undefined when the log names only the file. */
  line?: number;
}

const PATTERNS: readonly RegExp[] = [
  // Traceback frames: `  File "/workspace/proj/train.py", line 42, in <module>`
  /File "([^"\n]+)", line (\d+)/g,
  // warnings, pytest, compilers: `/workspace/proj/train.py:42: UserWarning: …`
  /(?<![\w./-])((?:\/|\.{1,2}\/)?[\w.+@-]+(?:\/[\w.+@-]+)*\.(?:py|pyi|pyx|ipynb|sh|yaml|yml|json|toml|cfg|txt|c|cc|cpp|cu|h|hpp)):(\d+)(?=[:\s,)]|$)/g,
  // pdb: `> /workspace/proj/train.py(42)main()`
  /(?<=^> )(\/[^()\n]+)\((\d+)\)/g,
];

/** The file positions named in one line of a log (ANSI escapes must already be gone). */
export function findTracebackLinks(text: string): TracebackLink[] {
  const out: TracebackLink[] = [];
  for (const re of PATTERNS) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const startIndex = m.index;
      if (out.some((l) => startIndex < l.startIndex + l.length && l.startIndex < startIndex + m![0].length)) continue;
      if (m[1].startsWith('<')) continue; // <frozen importlib._bootstrap>, <string>, <stdin>
      out.push({ startIndex, length: m[0].length, path: m[1], line: Number(m[2]) });
    }
  }
  return out.sort((a, b) => a.startIndex - b.startIndex);
}

/** A pod folder that holds a copy of a local folder (what Run synced). */
export interface FolderMapping {
  /** Absolute posix path in the pod, e.g. /workspace/proj. */
  remoteDir: string;
  /** Absolute local path. */
  localDir: string;
}

export type LinkTarget = { kind: 'local'; file: string; line?: number } | { kind: 'pod'; path: string; line?: number };

/**
 * Where a path from the log is: the local file when a mapping covers it and the file exists
 * locally (never outside the mapped folder, whatever `..` or symlinks say), else the pod's file.
 * `cwd` resolves relative paths (the job's folder in the pod).
 */
export async function resolveLinkTarget(
  link: Pick<TracebackLink, 'path' | 'line'>,
  mappings: readonly FolderMapping[],
  cwd?: string,
): Promise<LinkTarget | undefined> {
  const raw = link.path;
  if (!raw.startsWith('/') && !cwd) return undefined;
  const podPath = path.posix.normalize(raw.startsWith('/') ? raw : path.posix.join(cwd!, raw));
  for (const m of mappings) {
    const root = path.posix.normalize(m.remoteDir).replace(/\/+$/, '') || '/';
    const rel = path.posix.relative(root, podPath);
    if (rel === '' || rel.startsWith('..') || path.posix.isAbsolute(rel)) continue;
    const local = path.join(m.localDir, ...rel.split('/'));
    if (!isInside(path.resolve(m.localDir), local)) continue;
    const real = await fsp.realpath(local).catch(() => undefined);
    const realRoot = await fsp.realpath(m.localDir).catch(() => undefined);
    if (!real || !realRoot || !isInside(realRoot, real)) continue;
    const st = await fsp.stat(real).catch(() => undefined);
    if (st?.isFile()) return { kind: 'local', file: local, line: link.line };
  }
  return { kind: 'pod', path: podPath, line: link.line };
}

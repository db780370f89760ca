// Maps `…/test/e2e/out/x.test.js:L:C` in stack traces back to `test/e2e/suite/x.test.ts:L:C`:
// the extension host replaces Error.prepareStackTrace, so Node's own source-map support is off there.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { resolve, dirname } from 'node:path';

const cache = new Map();

function mapFor(file) {
  if (!cache.has(file)) {
    let map;
    try {
      const m = /\/\/# sourceMappingURL=data:application\/json;base64,(\S+)\s*$/.exec(readFileSync(file, 'utf8'));
      if (m) map = new SourceMap(JSON.parse(Buffer.from(m[1], 'base64').toString('utf8')));
    } catch {
      map = undefined;
    }
    cache.set(file, map);
  }
  return cache.get(file);
}

/** Rewrites every `<outDir>/<name>.js:line:col` in `text` to its TypeScript source position. */
export function mapStack(text, outDir) {
  const re = new RegExp(`(${outDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[\\w.-]+\\.js):(\\d+):(\\d+)`, 'g');
  return text.replace(re, (whole, file, line, col) => {
    if (!existsSync(file)) return whole;
    const entry = mapFor(file)?.findEntry(Number(line) - 1, Number(col) - 1);
    if (!entry?.originalSource) return whole;
    const source = resolve(dirname(file), entry.originalSource.replace(/^file:\/\//, ''));
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

/**
 * The manifest as VS Code shows it in English: package.json with every `%key%` replaced by its
 * text from package.nls.json (what VS Code does when no language pack applies). Tests that check
 * what a user reads (titles, descriptions, walkthrough links) read this, not the raw package.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(__dirname, '..', '..', '..');

export function readNls(dir = root): Record<string, string> {
  return JSON.parse(readFileSync(join(dir, 'package.nls.json'), 'utf8'));
}

/** Every `%key%` used as a whole string value anywhere in the manifest (VS Code's rule). */
export function nlsKeysUsed(manifest: unknown): string[] {
  const keys: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === 'string') {
      const m = /^%([^%\s]+)%$/.exec(v);
      if (m) keys.push(m[1]);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(manifest);
  return keys;
}

export function localisedManifest(dir = root): any {
  const nls = readNls(dir);
  const replace = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const m = /^%([^%\s]+)%$/.exec(v);
      return m && m[1] in nls ? nls[m[1]] : v;
    }
    if (Array.isArray(v)) return v.map(replace);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replace(x)]));
    return v;
  };
  return replace(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
}

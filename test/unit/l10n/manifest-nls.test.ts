/**
 * Localisation of the manifest (VS Code's convention, as in vscode-extension-samples/l10n-sample):
 * every user-visible string in package.json is a `%key%` whose English text is in package.nls.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nlsKeysUsed, readNls, root } from './localised-manifest';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Missing and unused keys between a manifest and its package.nls.json. */
export function nlsMismatch(manifest: unknown, nls: Record<string, string>): { missing: string[]; unused: string[] } {
  const used = new Set(nlsKeysUsed(manifest));
  return {
    missing: [...used].filter((k) => !(k in nls)),
    unused: Object.keys(nls).filter((k) => !used.has(k)),
  };
}

test('every %key% in package.json has its English text in package.nls.json, and no key there is unused', () => {
  const nls = readNls();
  assert.deepEqual(nlsMismatch(pkg, nls), { missing: [], unused: [] });
  for (const [k, v] of Object.entries(nls)) assert.ok(typeof v === 'string' && v.trim().length > 0, `${k} has text`);
});

test('the check itself: a key missing from package.nls.json and an unused one are both reported', () => {
  const nls = { ...readNls(), 'orphan.key': 'Nobody uses me' };
  const manifest = structuredClone(pkg);
  manifest.contributes.commands[0].title = '%command.notInNls.title%';
  const { missing, unused } = nlsMismatch(manifest, nls);
  assert.ok(missing.includes('command.notInNls.title'));
  assert.ok(unused.includes('orphan.key'));
});

test('the strings a user reads in the manifest are %keys%, not English left in package.json', () => {
  const c = pkg.contributes;
  const isKey = (v: unknown) => typeof v === 'string' && /^%[^%\s]+%$/.test(v);
  const plain: string[] = [];
  const want = (v: unknown, where: string) => {
    if (v !== undefined && !isKey(v)) plain.push(`${where}: ${JSON.stringify(v)}`);
  };
  want(pkg.displayName, 'displayName');
  want(pkg.description, 'description');
  for (const cap of Object.values(pkg.capabilities ?? {}) as { description?: string }[]) want(cap.description, 'capabilities');
  for (const v of Object.values(c.viewsContainers ?? {}).flat() as { title: string }[]) want(v.title, 'viewsContainers');
  for (const v of Object.values(c.views ?? {}).flat() as { id: string; name: string }[]) want(v.name, v.id);
  for (const w of c.viewsWelcome ?? []) want(w.contents, `viewsWelcome ${w.view}`);
  for (const cmd of c.commands) {
    want(cmd.title, cmd.command);
    want(cmd.category, `${cmd.command} category`);
  }
  for (const cfg of [c.configuration].flat()) {
    want(cfg.title, 'configuration.title');
    for (const [k, p] of Object.entries(cfg.properties) as [string, Record<string, unknown>][]) {
      for (const f of ['description', 'markdownDescription', 'deprecationMessage', 'markdownDeprecationMessage']) want(p[f], `${k}.${f}`);
      for (const f of ['enumDescriptions', 'markdownEnumDescriptions', 'enumItemLabels'])
        for (const d of (p[f] as string[] | undefined) ?? []) want(d, `${k}.${f}`);
    }
  }
  for (const d of c.debuggers ?? []) {
    want(d.label, `debugger ${d.type}`);
    for (const a of Object.values(d.configurationAttributes ?? {}) as { properties: Record<string, { description?: string }> }[])
      for (const [k, p] of Object.entries(a.properties)) want(p.description, `debugger ${d.type} ${k}`);
    for (const s of d.configurationSnippets ?? []) {
      want(s.label, 'configurationSnippets.label');
      want(s.description, 'configurationSnippets.description');
    }
  }
  for (const t of c.taskDefinitions ?? [])
    for (const [k, p] of Object.entries(t.properties) as [string, { description?: string }][]) want(p.description, `task ${t.type}.${k}`);
  for (const w of c.walkthroughs ?? []) {
    want(w.title, `walkthrough ${w.id}`);
    want(w.description, `walkthrough ${w.id}`);
    for (const s of w.steps) {
      want(s.title, `step ${s.id}`);
      want(s.description, `step ${s.id}`);
      want(s.media?.altText, `step ${s.id} altText`);
    }
  }
  assert.deepEqual(plain, []);
});

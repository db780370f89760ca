/**
 * Every user-visible string in the editor code (src/, not the plain Node library src/kgpu, which
 * never imports vscode and whose messages are shown as they are) goes through vscode.l10n.t.
 * The rule is in unlocalised-strings.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { findUnlocalised } from './unlocalised-strings';
import { root } from './localised-manifest';

function editorSources(dir = join(root, 'src')): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const rel = relative(root, p).split('\\').join('/');
    if (rel === 'src/kgpu') continue; // the plain Node library: no vscode, no l10n
    if (statSync(p).isDirectory()) files.push(...editorSources(p));
    else if (rel.endsWith('.ts')) files.push(rel);
  }
  return files;
}

test('user-visible strings in the editor code go through vscode.l10n.t', () => {
  const files = editorSources();
  assert.ok(files.includes('src/extension.ts') && files.some((f) => f.startsWith('src/platform/')), 'the scan sees src/');
  const findings: string[] = [];
  for (const f of files) {
    for (const x of findUnlocalised(readFileSync(join(root, f), 'utf8'), f)) findings.push(`${f}:${x.line}: ${x.text}`);
  }
  assert.deepEqual(findings, [], 'wrap these in vscode.l10n.t(…) (see README.md, Localisation)');
});

test('the rule: bare literals, templates and concatenations in messages, buttons and UI options are caught; l10n.t, data and opt-outs are not', () => {
  const caught = (code: string) => findUnlocalised(code).map((f) => f.line);
  const src = [
    /* 1 */ `vscode.window.showErrorMessage('kgpu: it failed.');`,
    /* 2 */ "vscode.window.showWarningMessage(`kgpu: ${name} stopped`, 'Retry');",
    /* 3 */ `vscode.window.showInformationMessage(vscode.l10n.t('kgpu: done.'), vscode.l10n.t('Open'));`,
    /* 4 */ `vscode.window.withProgress({ location, title: 'kgpu: working…' }, run);`,
    /* 5 */ `vscode.window.showQuickPick(items, { title: vscode.l10n.t('Pick'), placeHolder: 'Pick a pod' });`,
    /* 6 */ `const item = { label: pod.name, description: \`\${pod.gpu_model} · \${pod.phase}\` };`,
    /* 7 */ `statusBar.text = '$(sync~spin)';`,
    /* 8 */ `statusBar.tooltip = 'Show the kgpu sidebar';`,
    /* 9 */ `vscode.window.showErrorMessage('kgpu: ' + message);`,
    /* 10 */ `vscode.window.showInputBox({ prompt: 'token' }); // l10n-ignore: a format`,
    /* 11 */ `services.showError(e, { prefix: ok ? 'Could not rent:' : other });`,
  ].join('\n');
  assert.deepEqual(caught(src), [1, 2, 2, 4, 5, 8, 9, 11]);
});

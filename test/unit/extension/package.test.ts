import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExtension, extensionOutputFiles } from './extension-build';

const root = join(__dirname, '..', '..', '..');

test('npm run package: a VSIX under 640 KB holding only the bundle and its vendor files, the pod-side Python, media and docs', async (t) => {
  // Package a copy so this test never races with others reading dist/.
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-vsix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['package.json', 'package.nls.json', 'l10n', 'README.md', 'LICENSE', 'CHANGELOG.md', '.vscodeignore', 'media', 'pod']) {
    cpSync(join(root, f), join(dir, f), { recursive: true });
  }
  mkdirSync(join(dir, 'dist'));
  // The production build of esbuild.mjs (dist/extension.js + dist/vendor-*.js), as `npm run package`.
  await buildExtension({ production: true, outdir: join(dir, 'dist'), logLevel: 'silent' });
  const distFiles = await extensionOutputFiles();
  assert.ok(distFiles.length >= 3 && distFiles[0] === 'extension.js', `esbuild.mjs writes ${distFiles.join(', ')}`);
  const vsix = join(dir, 'kgpu.vsix');
  execFileSync(process.execPath, [join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--out', vsix], {
    cwd: dir,
    stdio: 'pipe',
  });
  // The budget is for code and media; the localisation files (package.nls*.json, l10n/) grow with
  // each language and are counted apart (their compressed size, as `unzip -v` reports it).
  const localisation = execFileSync('unzip', ['-v', vsix], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\s*\d+\s+\S+\s+(\d+)\s.*\sextension\/(package\.nls(\.[\w-]+)?\.json|l10n\/[\w.-]+\.json)$/.exec(line))
    .reduce((sum, m) => sum + (m ? Number(m[1]) : 0), 0);
  assert.ok(localisation > 0 && localisation < 64 * 1024, `localisation files: ${localisation} bytes compressed`);
  // The bound catches what must never ship (node_modules, sourcemaps: megabytes); it grew from 500 KB
  // with the pod-side Python (agent, fork server, kernel bridge, debug launcher and relay) and the features on them.
  const size = statSync(vsix).size - localisation;
  assert.ok(size < 640 * 1024, `VSIX is ${size} bytes without the localisation files`);
  const listing = execFileSync('unzip', ['-Z1', vsix], { encoding: 'utf8' }).trim().split('\n');
  const payload = listing.filter((f) => f.startsWith('extension/'));
  for (const f of payload) {
    assert.match(
      f,
      /^extension\/(dist\/[\w-]+\.js|pod\/[\w-]+\.py|media\/(walkthrough\/)?[\w.-]+\.(svg|png)|README\.md|LICENSE\.txt|CHANGELOG\.md|package\.json|package\.nls\.json|l10n\/bundle\.l10n\.json)$/,
      `unexpected file in VSIX: ${f}`,
    );
  }
  // The localisation (VS Code reads them from the installed extension): the manifest's English and the runtime strings.
  assert.ok(payload.includes('extension/package.nls.json'), 'package.nls.json is shipped');
  assert.ok(payload.includes('extension/l10n/bundle.l10n.json'), 'l10n/bundle.l10n.json is shipped');
  // Every file the build writes (the vendor files are required at run time), and no other script.
  assert.deepEqual(payload.filter((f) => f.startsWith('extension/dist/')).sort(), distFiles.map((f) => `extension/dist/${f}`).sort());
  // The pod-side Python, found at run time next to dist/, byte for byte: the pod agent
  // (src/kgpu/agent/agent-script.ts), the warm start's fork server (src/kgpu/warm/pod-script.ts), the
  // project dependencies' installer (src/kgpu/deps/) the notebook kernel bridge (src/kgpu/notebook/kernel-start.ts), and the debug job's launcher and relay (src/kgpu/debug/debug-job.ts).
  for (const [file, what] of [
    ['agent.py', 'the pod agent'],
    ['forkserver.py', 'the fork server'],
    ['deps.py', "the project dependencies' installer"],
    ['kernel_bridge.py', 'the notebook kernel bridge'],
    ['debug_launch.py', "the debug job's debugpy launcher"],
    ['debug_relay.py', "the debug job's relay and stop watchdog"],
  ]) {
    assert.ok(payload.includes(`extension/pod/${file}`), `${what} is shipped`);
    const shipped = execFileSync('unzip', ['-p', vsix, `extension/pod/${file}`]);
    assert.ok(shipped.equals(readFileSync(join(root, 'pod', file))), `the shipped ${what} is pod/${file}`);
  }
});

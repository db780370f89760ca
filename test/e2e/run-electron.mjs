// The same integration suite under a desktop VS Code with @vscode/test-electron — for a developer's
// laptop, where VS Code can be downloaded (or is installed). Our CI machines cannot reach the
// download, so there the code-server runner (run.mjs) is the default.
//
//   KGPU_E2E_RUNNER=electron npm run test:e2e
//   KGPU_VSCODE_EXECUTABLE=/path/to/code   use an installed VS Code instead of downloading one
//   KGPU_VSCODE_VERSION=1.100.0            version to download (default: stable)
//   KGPU_E2E_GREP=<regexp>                 only matching tests
// The UI journeys need code-server and are not run here. Prints `e2e: N passed, M failed`.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { buildSuite } from './build-suite.mjs';
import { ensureExtensionBuilt, root } from './lib/build.mjs';
import { simulatorAvailable, startSimulator } from './lib/simulator.mjs';
import { createSampleProject } from './lib/workspace.mjs';
import { CACHE } from './setup.mjs';

const scratch = mkdtempSync(join(tmpdir(), 'kgpu-e2e-electron-'));
let sim;
let code = 1;
const counts = { passed: 0, failed: 0, pending: 0 };
try {
  ensureExtensionBuilt();
  const suite = await buildSuite();
  if (simulatorAvailable()) sim = await startSimulator({ dir: scratch, name: 'sim-suite', coldStartMs: 300 });
  else console.log('[e2e] skipped: simulator not available (test/sim/cli.ts not found) — tests that need it are skipped');
  const workspace = createSampleProject(join(scratch, 'workspace'));
  const resultsFile = join(scratch, 'suite-results.json');
  let exitCode = 0;
  try {
    exitCode = await runTests({
      ...(process.env.KGPU_VSCODE_EXECUTABLE
        ? { vscodeExecutablePath: process.env.KGPU_VSCODE_EXECUTABLE }
        : { version: process.env.KGPU_VSCODE_VERSION ?? 'stable', cachePath: join(CACHE, 'vscode-desktop') }),
      extensionDevelopmentPath: root,
      extensionTestsPath: suite.index,
      launchArgs: [
        workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        `--user-data-dir=${join(scratch, 'user-data')}`,
        `--extensions-dir=${join(scratch, 'extensions')}`,
      ],
      extensionTestsEnv: {
        ...(sim?.env ?? {}),
        KGPU_E2E_RESULTS: resultsFile,
        KGPU_E2E_DEV_PATH: root,
        ...(process.env.KGPU_E2E_GREP ? { KGPU_E2E_GREP: process.env.KGPU_E2E_GREP } : {}),
      },
    });
  } catch (e) {
    // runTests rejects when the tests fail (non-zero exit) or VS Code cannot be started/downloaded.
    const message = e instanceof Error ? e.message : String(e);
    console.error(`[e2e] ${message}`);
    if (/ENOTFOUND|ECONNREFUSED|ETIMEDOUT|download|Resolving/i.test(message)) {
      console.error(
        '[e2e] could not get a desktop VS Code: set KGPU_VSCODE_EXECUTABLE=/path/to/code, or use the default code-server runner (unset KGPU_E2E_RUNNER).',
      );
    }
    exitCode = 1;
  }
  if (existsSync(resultsFile)) Object.assign(counts, JSON.parse(readFileSync(resultsFile, 'utf8')));
  else {
    console.error(`[e2e] the integration suite reported no results (exit code ${exitCode}) — did it finish?`);
    counts.failed = Math.max(counts.failed, 1);
  }
  if (exitCode !== 0 && counts.failed === 0) counts.failed = 1;
  code = counts.failed ? 1 : 0;
} catch (e) {
  console.error(`[e2e] ✖ ${e instanceof Error ? e.stack : e}`);
  counts.failed++;
} finally {
  await sim?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
console.log(
  `e2e: ${counts.passed} passed, ${counts.failed} failed${counts.pending ? ` (${counts.pending} skipped)` : ''} [desktop VS Code, integration suite only]`,
);
process.exit(code);

// The tests in a real VS Code: code-server 4.139.1 (VS Code 1.139) + Debian chromium.
//   (a) the integration suite (test/e2e/suite/*.test.ts, mocha) inside the extension host, with
//       the extension loaded from this checkout (extensionDevelopmentPath = repo root → dist/);
//   (b) the UI journeys (test/e2e/ui/*.journey.mjs) with Playwright against the installed VSIX.
// Prints `e2e: N passed, M failed` (N/M = mocha tests + journeys) and exits non-zero on failure.
//
//   node test/e2e/run.mjs                 everything (npm run test:e2e)
//   KGPU_E2E_ONLY=integration|security|ui|demo   one part (default: all, then `npm run demo -- --check`);
//                                         the security sessions (lib/security-sessions.mjs) also run with integration
//   KGPU_E2E_GREP=<regexp>                integration tests whose full title matches
//   KGPU_E2E_JOURNEYS=<regexp>            journeys whose file name matches
//   KGPU_E2E_RUNNER=electron              the integration suite under @vscode/test-electron instead
//   KGPU_E2E_KEEP=1                       keep the scratch folder (profiles, logs) for inspection
//   KGPU_E2E_VERBOSE=1                    echo all of the workbench's console
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildSuite, OUT_DIR } from './build-suite.mjs';
import { mapStack } from './lib/source-maps.mjs';
import { devVsixPath, ensureExtensionBuilt, ensureVsix, root } from './lib/build.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { installVsix, prepareProfile, startCodeServer } from './lib/code-server.mjs';
import { runExtensionTests } from './lib/extension-tests.mjs';
import { simulatorAvailable, startSimulator } from './lib/simulator.mjs';
import { createSampleProject } from './lib/workspace.mjs';
import { runSecuritySessions } from './lib/security-sessions.mjs';
import { createUi, simulatorApi } from './ui/helpers.mjs';

// 12 min: the security sessions open two more code-server windows (≈ 1.5–2 min at load average 10).
const TOTAL_TIMEOUT_MS = Number(process.env.KGPU_E2E_TIMEOUT_MS ?? 40 * 60_000);
const SUITE_TIMEOUT_MS = 12 * 60_000;
const JOURNEY_TIMEOUT_MS = 180_000;
const SHOTS = join(root, 'test-results', 'screenshots');
const only = process.env.KGPU_E2E_ONLY;
const runSuite = !only || only === 'integration';
const runSecurity =
  (!only || only === 'integration' || only === 'security') && (!process.env.KGPU_E2E_GREP || /secur/i.test(process.env.KGPU_E2E_GREP));
const runUi = !only || only === 'ui';
const runDemo = !only || only === 'demo';

if (process.env.KGPU_E2E_RUNNER === 'electron') {
  const r = spawnSync(process.execPath, [join(root, 'test', 'e2e', 'run-electron.mjs')], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const log = (msg) => console.log(`[e2e] ${msg}`);
const seconds = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const cleanups = [];
const counts = { passed: 0, failed: 0, skipped: 0 };
const timings = {};
let codeServer;

// The watchdog covers the tests, not the one-time install in setup() (a first code-server build takes
// 2–6 min on a loaded 2-core machine and has its own time limits).
let watchdog;
function startWatchdog() {
  watchdog = setTimeout(() => {
    console.error(`[e2e] ✖ the tests took longer than ${TOTAL_TIMEOUT_MS / 1000} s (after set-up) — stopping`);
    if (codeServer) console.error(`--- code-server log (tail) ---\n${codeServer.logTail(40)}`);
    counts.failed++;
    void finish(1);
  }, TOTAL_TIMEOUT_MS);
}

async function main() {
  const t0 = Date.now();
  const paths = await setup();
  timings.setup = seconds(t0);
  startWatchdog();

  let t = Date.now();
  if (ensureExtensionBuilt()) log('built dist/extension.js');
  const suite = await buildSuite();
  const vsix = devVsixPath(paths.cache);
  if (ensureVsix(vsix)) log(`packaged ${vsix}`);
  timings.build = seconds(t);

  const scratch = mkdtempSync(join(tmpdir(), 'kgpu-e2e-'));
  cleanups.push(() => {
    if (!process.env.KGPU_E2E_KEEP) rmSync(scratch, { recursive: true, force: true });
    else log(`kept ${scratch}`);
  });
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });

  // Two simulators: one for the integration suite (its env goes to the extension under test through
  // extensionEnvironment), one for the UI journeys (code-server's own environment, less the token).
  t = Date.now();
  let simSuite;
  let simUi;
  if (simulatorAvailable()) {
    [simSuite, simUi] = await Promise.all([
      !runSuite && !runSecurity ? undefined : startSimulator({ dir: scratch, name: 'sim-suite', coldStartMs: 300 }),
      !runUi ? undefined : startSimulator({ dir: scratch, name: 'sim-ui', coldStartMs: 300 }),
    ]);
    for (const s of [simSuite, simUi]) if (s) cleanups.unshift(() => s.stop());
    log(`simulator(s) ready in ${seconds(t)}`);
  } else {
    log('skipped: simulator not available (test/sim/cli.ts not found) — tests that need it are skipped');
  }

  const workspace = createSampleProject(join(scratch, 'workspace'));
  const profile = prepareProfile(join(scratch, 'code-server'));
  t = Date.now();
  installVsix(paths, profile, vsix);
  // The journeys start signed out and sign in as a person does (typing ui.sim.KGPU_API_TOKEN), so
  // code-server gets where the simulator is but not its token (the extension would use it).
  const { KGPU_API_TOKEN: _token, ...uiEnv } = simUi?.env ?? {};
  codeServer = await startCodeServer({ paths, profile, workspace, env: uiEnv });
  cleanups.unshift(() => codeServer.stop());
  log(`code-server at ${codeServer.url} (VSIX installed, started in ${seconds(t)})`);

  const browser = await launchBrowser({ executablePath: paths.chromium, scratchDir: scratch });
  cleanups.unshift(() => browser.close());

  if (runSuite) await integrationSuite({ browser, workspace, suite, scratch, sim: simSuite });
  if (runSecurity && simSuite) {
    const t = Date.now();
    log('security sessions: hostile workspace settings, Restricted Mode (a code-server each)');
    await runSecuritySessions({ paths, browser, scratch, sim: simSuite, counts, log });
    timings.security = seconds(t);
  }
  if (runUi) await uiJourneys({ browser, workspace, sim: simUi });
  await runCleanups(); // frees the CPU for the demo's own code-server and simulator
  if (runDemo) await demoCheck();
  log(
    `times: set-up ${timings.setup}, build ${timings.build}, integration ${timings.integration ?? '-'}, security ${timings.security ?? '-'}, UI ${timings.ui ?? '-'}, demo --check ${timings.demo ?? '-'}, total ${seconds(t0)}`,
  );
  await finish(counts.failed ? 1 : 0);
}

async function integrationSuite({ browser, workspace, suite, scratch, sim }) {
  const t = Date.now();
  const resultsFile = join(scratch, 'suite-results.json');
  log(`integration suite: ${suite.files} file(s) in the extension host${sim ? '' : ' (no simulator)'}`);
  let run;
  try {
    run = await runExtensionTests({
      browser,
      baseUrl: codeServer.url,
      workspace,
      devPath: root,
      testsPath: suite.index,
      timeoutMs: SUITE_TIMEOUT_MS,
      env: {
        ...(sim?.env ?? {}),
        KGPU_E2E_RESULTS: resultsFile,
        KGPU_E2E_DEV_PATH: root,
        ...(process.env.KGPU_E2E_GREP ? { KGPU_E2E_GREP: process.env.KGPU_E2E_GREP } : {}),
      },
      onLine: (l) => console.log(mapStack(l.replace(/^\s*\[kgpu-e2e\] ?/, '  '), OUT_DIR)),
      serverLog: () => codeServer.log(),
    });
  } catch (e) {
    counts.failed++;
    console.log(`  ✖ the integration suite could not run: ${e.message}`);
    if (codeServer) console.log(`  --- code-server log (tail) ---\n${codeServer.logTail(30)}`);
    return;
  }
  const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : undefined;
  if (results) {
    counts.passed += results.passed;
    counts.failed += results.failed;
    counts.skipped += results.pending;
  }
  if (!results) {
    counts.failed++;
    const died = /.*Extension Host Process exited with code: (?!0,).*|.*Extension Host Process exited.*signal: SIG.*/.exec(
      codeServer.log(),
    )?.[0];
    console.log(
      `  ✖ the integration suite reported no results (exit code ${run.exitCode})${died ? ` — the extension host died: ${died.trim()}` : ' — did it finish?'}`,
    );
  } else if (run.exitCode !== 0 && results.failed === 0) {
    counts.failed++;
    const how =
      run.exitCode === 'timeout'
        ? `a timeout after ${SUITE_TIMEOUT_MS / 1000} s`
        : run.exitCode === 'extension host died'
          ? 'the extension host dying'
          : `exit code ${run.exitCode}`;
    console.log(`  ✖ the extension tests ended with ${how}`);
  }
  if (counts.failed) await failureEvidence(run.page, 'integration-suite');
  await run.close();
  timings.integration = seconds(t);
  log(`integration suite done in ${timings.integration} (exit code ${run.exitCode})`);
}

async function uiJourneys({ browser, workspace, sim }) {
  const t = Date.now();
  const filter = process.env.KGPU_E2E_JOURNEYS ? new RegExp(process.env.KGPU_E2E_JOURNEYS) : undefined;
  const files = readdirSync(join(root, 'test', 'e2e', 'ui'))
    .filter((f) => f.endsWith('.journey.mjs') && (!filter || filter.test(f)))
    .sort();
  log(`UI journeys: ${files.length} (screenshots in ${SHOTS})`);
  let current; // { context, page } of the last journey, for one that `continues`
  for (const file of files) {
    const { journey } = await import(join(root, 'test', 'e2e', 'ui', file));
    const prefix = file.replace(/\.journey\.mjs$/, '');
    if (journey.needsSimulator && !sim) {
      counts.skipped++;
      console.log(`  - ${journey.title} (skipped: simulator not available)`);
      continue;
    }
    const started = Date.now();
    if (!(journey.continues && current)) {
      await current?.context.close();
      await releaseLivePods(sim?.env); // each journey starts with no rentals, whatever the last one left
      current = await newPage(browser);
    }
    const { page } = current;
    const ui = createUi(page, { url: codeServer.url, workspace, shotsDir: SHOTS, prefix, sim: sim?.env });
    const timeoutMs = journey.timeoutMs ?? JOURNEY_TIMEOUT_MS;
    let timer;
    try {
      await Promise.race([
        journey.run(ui),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`journey took longer than ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      counts.passed++;
      console.log(`  ✔ ${journey.title} (${Date.now() - started} ms)`);
    } catch (e) {
      counts.failed++;
      console.log(
        `  ✖ ${journey.title}\n${String(e.stack ?? e)
          .split('\n')
          .map((l) => `      ${l}`)
          .join('\n')}`,
      );
      await failureEvidence(page, `${prefix}-FAILED`);
      // Closing the context also stops whatever the failed journey was still doing.
      await current.context.close().catch(() => undefined);
      current = undefined;
    } finally {
      clearTimeout(timer);
    }
  }
  await current?.context.close();
  timings.ui = seconds(t);
  log(`UI journeys done in ${timings.ui}`);
}

/**
 * Release every live pod of the simulator's account: a journey that failed half-way leaves its
 * rental, and the next journey's pod choice would then ask "which pod?" where it expects none.
 */
async function releaseLivePods(env) {
  if (!env) return;
  try {
    await simulatorApi(env).releaseAll();
  } catch (e) {
    console.log(`  (could not release the simulator's pods before the journey: ${e.message})`);
  }
}

/** `npm run demo -- --check` — so the README's first command cannot rot. */
async function demoCheck() {
  if (!simulatorAvailable()) {
    counts.skipped++;
    console.log('  - npm run demo -- --check (skipped: simulator not available)');
    return;
  }
  const t = Date.now();
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'demo.mjs'), '--check'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('exit', (code) => resolve({ code, out }));
  });
  timings.demo = seconds(t);
  if (r.code === 0) {
    counts.passed++;
    console.log(`  ✔ npm run demo -- --check (${timings.demo})`);
  } else {
    counts.failed++;
    console.log(
      `  ✖ npm run demo -- --check exited ${r.code}\n${r.out
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n')}`,
    );
  }
}

async function failureEvidence(page, name) {
  const file = join(SHOTS, `${name}.png`);
  try {
    await page.screenshot({ path: file, timeout: 10_000 });
    console.log(`  screenshot: ${file}`);
  } catch (e) {
    console.log(`  (no screenshot: ${e.message.split('\n')[0]})`);
  }
  if (codeServer)
    console.log(
      `  --- code-server log (tail) ---\n${codeServer
        .logTail(30)
        .split('\n')
        .map((l) => `  | ${l}`)
        .join('\n')}`,
    );
}

async function runCleanups() {
  for (const c of cleanups.splice(0)) {
    try {
      await Promise.race([c(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    } catch {
      /* best effort: keep stopping the rest */
    }
  }
}

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  clearTimeout(watchdog);
  await runCleanups();
  console.log(
    `e2e: ${counts.passed} passed, ${counts.failed} failed${counts.skipped ? ` (${counts.skipped} skipped${simulatorAvailable() ? '' : ': simulator not available'})` : ''}`,
  );
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    counts.failed++;
    void finish(130);
  });

main().catch(async (e) => {
  console.error(`[e2e] ✖ ${e.stack ?? e}`);
  if (codeServer) console.error(`--- code-server log (tail) ---\n${codeServer.logTail(40)}`);
  counts.failed++;
  await finish(1);
});

// `npm run demo`: the product on the embedded simulator, in a real VS Code (code-server) in your
// browser. Builds the extension and its VSIX, starts the kgpu simulator (pods start in seconds,
// trial credits), creates a sample project, starts code-server with the VSIX installed and the
// simulator's coordinates in its environment, prints the URL — and stops everything on Ctrl-C.
//
//   npm run demo                       serve on http://127.0.0.1:8080 (next free port if taken)
//   npm run demo -- --port 9000        another port
//   npm run demo -- --check            start, check the workbench and the kgpu view load in
//                                      headless chromium, screenshot, stop (exit 0 = healthy)
//   npm run demo -- --cold-start-ms 20000   slower, more realistic pod start-up
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setup } from './setup.mjs';
import { devVsixPath, ensureExtensionBuilt, ensureVsix, root } from './lib/build.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { installVsix, prepareProfile, startCodeServer } from './lib/code-server.mjs';
import { freePort } from './lib/processes.mjs';
import { simulatorAvailable, simulatorOptions, startSimulator } from './lib/simulator.mjs';
import { createSampleProject } from './lib/workspace.mjs';
import { createUi } from './ui/helpers.mjs';

const { values: opts } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    port: { type: 'string', default: '8080' },
    'cold-start-ms': { type: 'string', default: '4000' },
    credits: { type: 'string', default: '20000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('npm run demo [-- --port N] [--cold-start-ms MS] [--credits N] [--check]');
  process.exit(0);
}

const say = (msg) => console.log(`[demo] ${msg}`);
const DEMO_DIR = join(root, '.vscode-test', 'demo');
const running = [];
let stopping = false;

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const r of running.reverse()) {
    try {
      await r.stop();
    } catch {
      /* keep stopping the rest */
    }
  }
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (!opts.check) say('stopping code-server and the simulator…');
    void stopAll(opts.check ? 1 : 0);
  });
}

async function main() {
  const paths = await setup();
  if (!simulatorAvailable()) throw new Error('the kgpu simulator (test/sim/cli.ts) is not in this build yet — the demo needs it.');
  if (ensureExtensionBuilt()) say('built dist/extension.js');
  const vsix = devVsixPath(paths.cache);
  if (ensureVsix(vsix)) say(`packaged ${vsix}`);

  const runDir = opts.check ? join(DEMO_DIR, 'check') : DEMO_DIR;
  rmSync(join(runDir, 'code-server'), { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  // The sample project survives between demos (your edits stay); --check always starts clean.
  const project = join(runDir, 'project');
  if (opts.check) rmSync(project, { recursive: true, force: true });
  const fresh = !existsSync(join(project, 'train.py'));
  createSampleProject(project, { overwrite: false });

  say(`starting the kgpu simulator (pods start in ${Number(opts['cold-start-ms']) / 1000} s)…`);
  const sim = await startSimulator({
    dir: runDir,
    name: 'simulator',
    coldStartMs: Number(opts['cold-start-ms']),
    args: simulatorOptions({ credits: Number(opts.credits) }),
  });
  running.push(sim);

  const profile = prepareProfile(join(runDir, 'code-server'));
  installVsix(paths, profile, vsix);
  const port = opts.check ? 0 : await pickPort(Number(opts.port));
  const cs = await startCodeServer({ paths, profile, workspace: project, env: sim.env, port });
  running.push(cs);

  if (opts.check) {
    await check(paths, cs, project);
    await stopAll(0);
    return;
  }
  console.log(`
  kgpu demo is running — open ${cs.folderUrl}
  (on a remote machine: ssh -L ${new URL(cs.url).port}:127.0.0.1:${new URL(cs.url).port} <that machine>, then open the same URL here)

  1. Click the kgpu icon in the Activity Bar (left). You are signed in to the simulator's trial
     account (${opts.credits} credits; its token is in code-server's environment as $KGPU_API_TOKEN).
  2. In GPU Models, rent an rtx3090 (+ on its row) and watch it start (${Number(opts['cold-start-ms']) / 1000} s).
  3. Right-click the rental → Open Workspace, or open train.py here and press ▶
     "Run Active File on GPU" (Ctrl+Alt+G): the log streams live in the panel.
  4. Release the rental from its row in Rentals when you are done (billing stops).

  Sample project: ${project}${fresh ? ' (new)' : ' (kept from the last demo)'}
  Logs: ${profile.log}, ${join(runDir, 'simulator.log')}
  Press Ctrl-C to stop.
`);
  await new Promise(() => {}); // until a signal
}

async function pickPort(wanted) {
  const probe = await import('node:net');
  const free = await new Promise((resolve) => {
    const srv = probe.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(wanted, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
  if (free) return wanted;
  const other = await freePort();
  say(`port ${wanted} is taken; using ${other}`);
  return other;
}

/** --check: the workbench loads with the extension installed and the kgpu view shows. */
async function check(paths, cs, project) {
  const t0 = Date.now();
  const browser = await launchBrowser({ executablePath: paths.chromium, scratchDir: join(DEMO_DIR, 'check') });
  running.push({ stop: () => browser.close() });
  const { page } = await newPage(browser);
  const ui = createUi(page, { url: cs.url, workspace: project, shotsDir: join(root, 'test-results', 'screenshots'), prefix: 'demo-check' });
  try {
    await ui.openWorkbench();
    await ui.clickActivity('kgpu');
    for (const title of ['Account', 'GPU Models', 'Rentals']) await ui.view(title).waitFor({ state: 'visible' });
    // The extension found the simulator through code-server's environment: signed in, balance shown.
    await ui.waitForText(/credits/, { within: ui.view('Account'), timeoutMs: 30_000 }).catch((e) => {
      throw new Error(
        `the Account view never showed the simulator account's credits — did the extension get KGPU_API_BASE/KGPU_API_TOKEN? (${e.message.split('\n')[0]})`,
      );
    });
    const file = await ui.screenshot('workbench');
    say(`ok: workbench, kgpu icon, its three views and the simulator account loaded in ${Date.now() - t0} ms (screenshot ${file})`);
  } catch (e) {
    await page.screenshot({ path: join(root, 'test-results', 'screenshots', 'demo-check-FAILED.png') }).catch(() => undefined);
    console.error(`--- code-server log (tail) ---\n${cs.logTail(30)}`);
    throw e;
  }
}

const deadline = opts.check
  ? setTimeout(() => {
      console.error('[demo] --check took longer than 120 s');
      void stopAll(1);
    }, 120_000)
  : undefined;
main().then(
  () => clearTimeout(deadline),
  async (e) => {
    console.error(`[demo] ✖ ${e instanceof Error ? e.message : e}`);
    await stopAll(1);
  },
);

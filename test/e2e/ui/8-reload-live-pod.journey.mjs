// Journey 8: nothing is lost across a window reload while a pod lives (issue 24: the Jobs rows, port
// forwarding and the job log's resume load only when the first live pod appears, src/live-pod-contributions.ts;
// after a reload that pod is already there when the window starts). Run a script with Run Active File
// on a GPU rented from the pod picker (it prints `tick N` until a file appears in the pod), forward a
// pod-side web server's port, and reload the window while the job runs. Then, without any kgpu command
// first: the running job's row is back under its rental, the forwarded port's row too (forwards are kept
// in workspaceState and restored while the pod lives, src/ports/forwarded-ports.ts) and the page is
// fetched through it; the job's log panel that was open has resumed by itself (src/jobs/jobs-view.ts:
// its terminal is not restored by VS Code, isTransient, but opened again at the stored offset, not
// shown): before any click on the row it is listed among the terminals, and once shown it follows
// new lines on its own; clicking the row reveals it; and when the journey tells the script to stop,
// the log shows its last line and the exit code, and the row says so.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForWorkbench } from '../lib/browser.mjs';
import { assertEventually } from './helpers.mjs';

const SCRIPT = 'ticker.py';
const POD_PORT = 8765;

// Prints a line every half second until the file named by its argument exists (bounded: ~10 min).
const SCRIPT_TEXT = `import os, sys, time
stop = sys.argv[1]
for i in range(1200):
    print(f"tick {i}", flush=True)
    if os.path.exists(stop):
        print(f"stopped after {i + 1} ticks", flush=True)
        sys.exit(0)
    time.sleep(0.5)
sys.exit("never told to stop")
`;

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'a running job and a forwarded port come back after a window reload, with no kgpu command first; the job ends in view',
  needsSimulator: true,
  timeoutMs: 300_000,
  async run(ui) {
    const { page } = ui;
    const scriptFile = join(ui.workspace, SCRIPT);
    const stopFile = `/workspace/.kgpu-e2e-stop-${randomBytes(4).toString('hex')}`;
    writeFileSync(scriptFile, SCRIPT_TEXT);
    try {
      await ui.signIn();

      // Run Active File with no pod yet: rent one from the picker, give the script its argument.
      await ui.openFile(SCRIPT);
      await page.locator('.part.editor .action-label[aria-label*="Run Active File on GPU"]').first().click();
      await ui.pick('Rent a new GPU');
      await ui.pick('rtx3090');
      await ui.pick('1 GPU');
      await ui.pick('Rent now');
      const rent = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Rent$/ }).first();
      await rent.waitFor({ state: 'visible' });
      await rent.click();
      await page
        .locator('.quick-input-widget .quick-input-title', { hasText: `Arguments for ${SCRIPT}` })
        .waitFor({ state: 'visible', timeout: 90_000 });
      await ui.answer(stopFile);
      await ui.waitForPanelText(/tick 2\b/, 90_000);

      // A web server in the pod (as a training script's dashboard would be), forwarded with the command.
      const pod = (await ui.api.get('/pods')).find((p) => p.phase === 'Running');
      assert.ok(pod, 'a running pod');
      const started = await ui.api.sh(
        pod.pod_id,
        `mkdir -p /workspace/www-reload && echo "<h1>dashboard across a reload</h1>" > /workspace/www-reload/index.html && setsid -f python3 -m http.server ${POD_PORT} --bind 127.0.0.1 --directory /workspace/www-reload </dev/null >/dev/null 2>&1`,
      );
      assert.equal(started.exit_code, 0, JSON.stringify(started));
      // setsid -f returns before the server binds: the command lists what listens now, so wait for it.
      await assertEventually(
        async () =>
          (await ui.api.sh(pod.pod_id, `python3 -c "import socket; socket.create_connection(('127.0.0.1', ${POD_PORT}), 5).close()"`))
            .exit_code === 0,
        `the pod's web server to listen on ${POD_PORT}`,
        60_000,
      );
      await ui.runCommand('kgpu: Forward Port…');
      await page
        .locator('.quick-input-widget .quick-input-title', { hasText: 'forward which port' })
        .waitFor({ state: 'visible', timeout: 60_000 });
      await ui.pick(String(POD_PORT));
      await ui.answer(String(POD_PORT), { title: 'to which local port' });
      await ui.expandView('Rentals');
      const rental = ui.treeItem('Rentals', 'rtx3090 × 1');
      const forwardRow = ui.treeItem('Rentals', /localhost:\d+/);
      const jobRow = (state) => ui.view('Rentals').locator('.monaco-list-row', { hasText: SCRIPT }).filter({ hasText: state }).first();
      await rowsUnderRental(rental, [forwardRow, jobRow('running')], 'the forwarded port and the running job under the rental', 120_000);
      const before = await fetchThrough(forwardRow);
      assert.match(before.text, /dashboard across a reload/);
      const lastTickBefore = maxTick(await ui.terminalText());
      assert.ok(lastTickBefore >= 2, `ticks before the reload (${lastTickBefore})`);
      await ui.screenshot('before-reload');

      // Reload the window while the job runs.
      const reloaded = page.waitForEvent('load', { timeout: 120_000 });
      await ui.runCommand('Developer: Reload Window');
      await reloaded;
      await waitForWorkbench(page, 120_000);
      await ui.activity('kgpu').waitFor({ state: 'visible', timeout: 60_000 });

      // No kgpu command first: the sidebar (a view, not a command) shows the rental with the running
      // job and the forwarded port again, and the port answers through the restored forward.
      // The kgpu side bar was open before the reload: the workbench restores it (opened by hand if not).
      await page
        .locator('.part.sidebar .composite.title')
        .filter({ hasText: /kgpu/i })
        .waitFor({ state: 'visible', timeout: 60_000 })
        .catch(() => ui.clickActivity('kgpu'));
      await ui.expandView('Rentals');
      await rowsUnderRental(rental, [forwardRow, jobRow('running')], 'the running job and the forwarded port after the reload', 120_000);
      await assertEventually(
        async () => /dashboard across a reload/.test((await fetchThrough(forwardRow).catch(() => ({ text: '' }))).text),
        'the pod page through the forward restored after the reload',
        60_000,
      );
      const after = await fetchThrough(forwardRow);
      console.log(`    forward: 127.0.0.1:${before.port} before the reload, 127.0.0.1:${after.port} after`);
      await ui.screenshot('after-reload');

      // Before any click on the row: the log panel resumed by itself. It is among the terminals
      // (Terminal: Switch Active Terminal lists it), and shown it goes on past the last tick seen
      // before the reload and keeps following new lines with nothing else done.
      await showTerminal(ui, `kgpu: ${SCRIPT} `); // panelName(): `kgpu: <name> <args> HH:MM:SS`
      await assertEventually(
        async () => maxTick(await ui.terminalText()) > lastTickBefore,
        `the resumed log panel to show lines after tick ${lastTickBefore}`,
        90_000,
      );
      const resumedTick = maxTick(await ui.terminalText());
      await assertEventually(
        async () => maxTick(await ui.terminalText()) > resumedTick,
        `the resumed log panel to follow by itself past tick ${resumedTick}`,
        90_000,
      );
      await ui.screenshot('log-resumed-after-reload');

      // The job's row reveals that panel, which goes on with new lines.
      const seenBeforeClick = maxTick(await ui.terminalText());
      await jobRow('running').click();
      await assertEventually(
        async () => maxTick(await ui.terminalText()) > seenBeforeClick,
        `the job's log to show lines after tick ${seenBeforeClick}`,
        90_000,
      );

      // Tell the script to stop: the log shows its last line and the footer, the row its end.
      const stopped = await ui.api.sh(pod.pod_id, `touch ${stopFile}`);
      assert.equal(stopped.exit_code, 0, JSON.stringify(stopped));
      await ui.waitForPanelText(/stopped after \d+ ticks/, 90_000);
      await ui.waitForPanelText(/exit code 0 ·/, 60_000);
      await jobRow('exited with code 0').waitFor({ state: 'visible', timeout: 60_000 });
      await ui.assertNoErrorNotifications();
      await ui.runCommand('Notifications: Clear All Notifications');
      await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
      await page.mouse.move(0, 0);
      await ui.screenshot('ended-after-reload');

      await ui.api.releaseAll();
    } finally {
      rmSync(scriptFile, { force: true });
    }
  },
};

/** The highest `tick N` in a log text (-1 when none). */
function maxTick(text) {
  return Math.max(-1, ...[...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
}

/**
 * Shows the terminal whose name matches `name` with Terminal: Switch Active Terminal, as a user picks
 * one the extension opened without showing it; the list is read again until that terminal is in it.
 */
async function showTerminal(ui, name) {
  const { page } = ui;
  await assertEventually(
    async () => {
      await ui.runCommand('Terminal: Switch Active Terminal');
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: name }).first();
      const listed = await row.waitFor({ state: 'visible', timeout: 10_000 }).then(
        () => true,
        () => false,
      );
      if (listed) {
        await ui.pick(name);
        return true;
      }
      await page.keyboard.press('Escape');
      await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
      return false;
    },
    `a terminal named ${name} (the job's log panel resumed after the reload)`,
    60_000,
  );
}

/** GET / through the forward a `localhost:N` row shows. */
async function fetchThrough(row) {
  const port = Number(/localhost:(\d+)/.exec(await row.innerText())?.[1]);
  const res = await fetch(`http://127.0.0.1:${port}/index.html`);
  return { port, text: await res.text() };
}

/**
 * Waits until every row in `rows` shows under the rental. Rows reach the tree through events, so a
 * collapsed rental row is clicked only while it shows as collapsed (aria-expanded="false") and then
 * only until it shows as expanded: a click while a refresh lands would collapse what it just expanded.
 */
async function rowsUnderRental(rental, rows, what, timeoutMs = 60_000) {
  await assertEventually(
    async () => {
      let all = true;
      for (const r of rows) if (!(await r.isVisible())) all = false;
      if (all) return true;
      if ((await rental.isVisible()) && (await rental.getAttribute('aria-expanded')) === 'false') {
        await rental.click();
        await assertEventually(async () => (await rental.getAttribute('aria-expanded')) !== 'false', 'the rental row to expand');
      }
      return false;
    },
    what,
    timeoutMs,
  );
}

// Small helpers for UI journeys: drive the code-server workbench as a person would (mouse and
// keyboard) and take screenshots. Selectors are VS Code 1.139's DOM; keep them here, not in journeys.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitForWorkbench } from '../lib/browser.mjs';

const PUBLISH_DIR = new URL('../../../media/screenshots', import.meta.url).pathname;

/**
 * What a journey file (test/e2e/ui/<n>-<name>.journey.mjs) exports as `journey`.
 * @typedef {object} Journey
 * @property {string} title            shown in the report
 * @property {boolean} [needsSimulator] skipped ("simulator not available") without one
 * @property {boolean} [continues]      reuse the previous journey's page (same browser storage)
 *                                      instead of a fresh browser context
 * @property {number} [timeoutMs]      default 90 000
 * @property {(ui: ReturnType<typeof createUi>) => Promise<void>} run
 */

/**
 * @param {import('playwright-core').Page} page
 * @param {{ url: string, workspace: string, shotsDir: string, prefix: string, sim?: Record<string,string> }} ctx
 */
export function createUi(page, ctx) {
  let shot = 0;
  mkdirSync(ctx.shotsDir, { recursive: true });

  const ui = {
    page,
    /** The workspace folder code-server opened and the simulator env (KGPU_API_BASE, …) if any. */
    workspace: ctx.workspace,
    sim: ctx.sim,
    /** code-server's base URL (e.g. to open the workbench on a `?workspace=` file instead). */
    url: ctx.url,
    /** The simulator's REST API for a journey's own set-up and checks (see simulatorApi), if any. */
    api: ctx.sim && simulatorApi(ctx.sim),

    /** Loads the workbench on the workspace and waits until it is usable and kgpu's icon is there. */
    async openWorkbench() {
      await page.goto(`${ctx.url}/?folder=${encodeURIComponent(ctx.workspace)}`);
      await waitForWorkbench(page);
      await ui.waitForKgpuIcon();
    },

    /**
     * Waits until kgpu's Activity Bar icon shows (the extension host has read the installed
     * extensions). Bounded at 90 s: with another code-server run on the 2 cores (load 11-13), 3 of
     * 4 journeys still had no icon after 30 s.
     */
    async waitForKgpuIcon() {
      await ui.activity('kgpu').waitFor({ state: 'visible', timeout: 90_000 });
    },

    /**
     * Signs in as a person does, from the workbench's first load: opens the workbench (unless
     * `open: false`, where the journey opened it its own way), kgpu's side bar and its Account view,
     * clicks the welcome view's "Sign in", types the simulator's token and waits until the Account
     * view shows the credits.
     */
    async signIn({ open = true } = {}) {
      if (open) await ui.openWorkbench();
      await ui.clickActivity('kgpu');
      await ui.expandView('Account');
      await ui.signInFromAccount();
    },

    /**
     * The last steps of signIn, where the kgpu side bar already shows the Account view (signed out).
     * The welcome view's "Sign in" shows before the extension has activated, and the click then
     * waits for the activation: a full UI run at load 15 failed journeys 6 and 8 here (the token box
     * not there after 20 s, the views still "no data provider registered"). So: wait (bounded) until
     * the views have their data providers, then click, then wait for the token box as long as a slow
     * activation may take.
     */
    async signInFromAccount() {
      await assertEventually(
        async () => (await page.locator('.part.sidebar .pane').getByText('There is no data provider registered').count()) === 0,
        'kgpu to activate (its views to have their data providers)',
        120_000,
      );
      await ui.button('Sign in', ui.view('Account')).click();
      await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'visible', timeout: 90_000 });
      await ui.answer(ui.sim.KGPU_API_TOKEN);
      await ui.waitForText(/credits/, { within: ui.view('Account') });
    },

    /** The Activity Bar entry whose label starts with `label`. */
    activity(label) {
      return page
        .locator(
          `.part.activitybar .action-item a[aria-label^="${label}"], .part.activitybar .action-item .action-label[aria-label^="${label}"]`,
        )
        .first();
    },

    /** Clicks an Activity Bar icon (e.g. 'kgpu', 'Explorer') and waits for its side bar. */
    async clickActivity(label) {
      await ui.activity(label).click();
      await page
        .locator('.part.sidebar .composite.title')
        .filter({ hasText: new RegExp(label, 'i') })
        .waitFor({ state: 'visible' });
    },

    /** A view pane in the side bar by its title ('Account', 'GPU Models', 'Rentals'). */
    view(title) {
      return page
        .locator('.part.sidebar .pane')
        .filter({ has: page.locator('.pane-header h3.title', { hasText: new RegExp(`^${escapeRegExp(title)}$`, 'i') }) });
    },

    /** Expands a collapsed view pane. */
    async expandView(title) {
      const header = ui.view(title).locator('.pane-header');
      if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
      await assertEventually(async () => (await header.getAttribute('aria-expanded')) === 'true', `view ${title} to expand`);
    },

    /** A row of a tree view, by (part of) its label. */
    treeItem(viewTitle, label) {
      return ui.view(viewTitle).locator('.monaco-list-row', { hasText: label }).first();
    },

    /**
     * Clicks a tree row's inline action (shown only while the row is hovered), e.g. GPU Models'
     * "Rent GPU…". A view that refreshes re-renders its rows (the live GPU menu does), which hides the
     * action again or detaches it mid-click: hover and click again until the click lands.
     */
    async clickRowAction(row, label, { attempts = 10 } = {}) {
      for (let i = 1; ; i++) {
        try {
          await row.hover();
          await row.locator(`.action-label[aria-label*="${label}"]`).click({ timeout: 5_000 });
          return;
        } catch (e) {
          if (i >= attempts) throw e;
        }
      }
    },

    /** A button (welcome-view buttons, dialog and notification buttons) by its text. */
    button(text, within = page.locator('body')) {
      return within.locator('.monaco-button, a.monaco-button, button', { hasText: text }).first();
    },

    /** Runs a command from the Command Palette (F1) by its title, e.g. 'kgpu: Sign In'. */
    async runCommand(title) {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      await input.fill(`>${title}`);
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: title }).first();
      await row.waitFor({ state: 'visible' });
      await page.keyboard.press('Enter');
    },

    /** Picks an item in the open Quick Pick by its (partial) label. */
    async pick(label) {
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label }).first();
      await row.waitFor({ state: 'visible' });
      // A row's hover (its detail in a context view, shown where the mouse last was) can lie over the
      // row to click: move the mouse off the list and let the hover go first.
      await page.mouse.move(0, 0);
      await page
        .locator('.context-view.monaco-component')
        .waitFor({ state: 'hidden', timeout: 5_000 })
        .catch(() => undefined);
      await row.click();
    },

    /**
     * Types into the open Quick Input / Input Box and presses Enter. `title` (part of the step's
     * title) is waited for first: right after a pick, the next step's input box has not replaced the
     * pick yet, and text typed then goes to the pick's filter box and is lost with it.
     */
    async answer(text, { title } = {}) {
      if (title) await page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor({ state: 'visible' });
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      await input.fill(text);
      await page.keyboard.press('Enter');
    },

    /** Opens a workspace file by name with Quick Open (Ctrl+P) and waits for its editor tab. */
    async openFile(name) {
      await page.keyboard.press('Control+P');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      await input.fill(name);
      await page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible' });
      await page.keyboard.press('Enter');
      await page.locator('.part.editor .tab.active', { hasText: name }).waitFor({ state: 'visible' });
      await page.locator('.part.editor .monaco-editor .view-lines').first().waitFor({ state: 'visible' });
    },

    /** Types into the active editor at the cursor (click a line first to place it). */
    async typeInEditor(text) {
      await page.locator('.part.editor .monaco-editor textarea, .part.editor .monaco-editor .native-edit-context').first().focus();
      await page.keyboard.type(text);
    },

    /** Saves the active editor (Ctrl+S) and waits until its tab is no longer dirty. */
    async save() {
      await page.keyboard.press('Control+S');
      await assertEventually(async () => (await page.locator('.part.editor .tab.active.dirty').count()) === 0, 'the editor to be saved');
    },

    /** The text the integrated terminal shows (all rows of the visible terminal). Only a shown
     *  terminal's rows: every terminal of the window (a shell, a task, another log panel) keeps its
     *  rows in the DOM, hidden, and the first of those in document order is not the one shown (journey
     *  8 read a hidden shell's rows for 90 s while the log panel on screen had reached tick 214). */
    async terminalText() {
      return page
        .locator('.part.panel .xterm-rows:visible')
        .first()
        .innerText()
        .catch(() => '');
    },

    /** Waits until the visible panel (terminal, output, …) shows `text` (string or RegExp). */
    async waitForPanelText(text, timeoutMs = 30_000) {
      const matches = (t) => (typeof text === 'string' ? t.includes(text) : text.test(t));
      await assertEventually(
        async () => {
          const panel = await page
            .locator('.part.panel')
            .innerText()
            .catch(() => '');
          return matches(panel) || matches(await ui.terminalText());
        },
        `the panel to show ${text}`,
        timeoutMs,
      );
    },

    /** Waits until `text` (string or RegExp) is visible, anywhere or within a locator. */
    async waitForText(text, { within = page.locator('.monaco-workbench'), timeoutMs = 20_000 } = {}) {
      await within.getByText(text).first().waitFor({ state: 'visible', timeout: timeoutMs });
    },

    /** A notification toast containing `text`. */
    notification(text) {
      return page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
    },

    /** Fails when an error notification is showing (a polished product shows none). */
    async assertNoErrorNotifications() {
      const errors = await page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').allInnerTexts();
      assert.deepEqual(errors, [], `error notifications: ${errors.join(' | ')}`);
    },

    /** Waits (bounded, best effort) until no progress bar is running in the workbench. */
    async settle(timeoutMs = 5_000) {
      await assertEventually(
        async () => (await page.locator('.monaco-progress-container.active:visible').count()) === 0,
        'progress bars to finish',
        timeoutMs,
      ).catch(() => undefined);
    },

    /** Saves test-results/screenshots/<prefix>-<n>-<name>.png (after progress bars settle) and returns
     *  its path. `publish: true` marks a README-worthy shot: with KGPU_E2E_PUBLISH_SCREENSHOTS=1 it is
     *  also written to media/screenshots/<prefix>-<name>.png. */
    async screenshot(name, { publish = false } = {}) {
      await ui.settle();
      shot++;
      const file = join(ctx.shotsDir, `${ctx.prefix}-${String(shot).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file });
      if (publish && process.env.KGPU_E2E_PUBLISH_SCREENSHOTS === '1') {
        mkdirSync(PUBLISH_DIR, { recursive: true });
        copyFileSync(file, join(PUBLISH_DIR, `${ctx.prefix}-${name}.png`));
      }
      return file;
    },
  };
  return ui;
}

/**
 * The simulator's REST API as the journeys (and the runner) use it beside the extension: to start a
 * process in a pod, to check what is there, and to leave the shared simulator as found. The token
 * is never printed.
 * @param {Record<string, string>} sim  the simulator's env (KGPU_API_BASE, KGPU_API_TOKEN)
 */
export function simulatorApi(sim) {
  const headers = { authorization: `Bearer ${sim.KGPU_API_TOKEN}`, 'content-type': 'application/json' };
  const call = async (method, path, body) => {
    const res = await fetch(`${sim.KGPU_API_BASE}${path}`, { method, headers, body: body && JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.status === 204 ? undefined : res.json();
  };
  const api = {
    /** GET → the JSON answer; a status other than 2xx throws with the answer. */
    get: (path) => call('GET', path),
    delete: (path) => call('DELETE', path),
    /**
     * POST /pods/{id}/exec: runs the argv `cmd` in the pod (with `stdin`, a string, if given) and
     * gives the API's { exit_code, stdout, stderr, … }; a status other than 2xx throws with the answer.
     */
    exec: (podId, cmd, stdin) => call('POST', `/pods/${podId}/exec`, { cmd, stdin: stdin ?? null, timeout_seconds: 60 }),
    /** `sh -c script` in the pod (exec). */
    sh: (podId, script) => api.exec(podId, ['sh', '-c', script]),
    /** Releases every Running or Pending pod of the account (a pod that is already going is not an error). */
    async releaseAll() {
      for (const p of await api.get('/pods'))
        if (p.phase === 'Running' || p.phase === 'Pending')
          await fetch(`${sim.KGPU_API_BASE}/pods/${p.pod_id}`, { method: 'DELETE', headers });
    },
  };
  return api;
}

/** Polls an async condition (bounded): for UI state that has no event to wait on. */
export async function assertEventually(condition, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

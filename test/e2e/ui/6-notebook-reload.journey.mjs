// Journey 6: the sample notebook on the GPU, then nothing lost across a window reload mid-cell.
// Rent a GPU, open notebook.ipynb, choose the pod's kgpu kernel, Run All: a matplotlib plot (an
// <img> in the output) and a tqdm progress bar (`steps: 100%|…| 50/50`), every cell successful, and
// the kernel's state with the pod's live GPU numbers in the status bar. Then open long-cell.ipynb (one
// cell that prints `line 0` … `line 19` over ~30 s, then `done`), choose the kernel, run
// the cell, and reload the window while it prints. The kernel keeps running in the pod; the reloaded
// window's session replays the unfinished cell from its start and the editor rebuilds its output:
// every line exactly once, in order, and the cell ends successfully.
import assert from 'node:assert/strict';
import { waitForWorkbench } from '../lib/browser.mjs';
import { assertEventually } from './helpers.mjs';

const NOTEBOOK = 'long-cell.ipynb';
const SAMPLE = 'notebook.ipynb';
const LINES = 20;

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title:
    'the sample notebook runs on the GPU (a plot, a progress bar); a cell keeps running across a window reload, its output rebuilt with nothing lost',
  needsSimulator: true,
  timeoutMs: 600_000,
  async run(ui) {
    const { page } = ui;
    await ui.signIn();

    await ui.expandView('GPU Models');
    const model = ui.treeItem('GPU Models', 'rtx3090');
    await ui.clickRowAction(model, 'Rent GPU');
    await ui.pick('1 GPU');
    await ui.pick('Rent now');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible' });
    await ui.button(/^Rent$/, dialog).click();
    await ui.notification(/is ready/).waitFor({ state: 'visible', timeout: 60_000 });
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });

    // The sample notebook: Run All shows a matplotlib plot and a tqdm progress bar.
    await openNotebook(ui, SAMPLE);
    await selectKgpuKernel(ui);
    await ui.runCommand('Notebook: Run All');
    await waitForOutputs(ui, (o) => o.images > 0, 'the matplotlib plot (an <img> in the output)', 240_000);
    // The progress cell is the last one: scroll down (the notebook renders the cells in view).
    await waitForOutputs(
      ui,
      (o) => /steps: 100%\|/.test(o.text),
      'the tqdm progress bar at 100%',
      120_000,
      () => scrollToEnd(ui),
    );
    await assertEventually(
      async () =>
        (await page.locator('.notebook-editor .cell-statusbar-container .codicon-notebook-state-success >> visible=true').count()) >= 2,
      'the plot and progress cells to end successfully',
      60_000,
    );
    // The kernel's state and the pod's live GPU numbers in the status bar.
    await page
      .locator('.part.statusbar .statusbar-item', { hasText: /rtx3090 · idle · GPU \d+% · [\d.]+\/24 GiB/ })
      .first()
      .waitFor({ state: 'visible', timeout: 90_000 });
    await ui.assertNoErrorNotifications();
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await scrollToEnd(ui);
    await page.mouse.move(0, 0); // no hover in the shot
    await ui.screenshot('plot-and-progress', { publish: true });
    // (The sample notebook stays open — its outputs made it dirty; closing it would ask to save.)

    await openNotebook(ui, NOTEBOOK);
    await selectKgpuKernel(ui);
    await ui.runCommand('Notebook: Run All');
    // Some lines in, the cell still running: reload the window.
    await waitForOutput(ui, (lines) => lines.length >= 3, 'the first lines of the cell', 180_000);
    await ui.screenshot('running-before-reload', { publish: true });

    const reloaded = page.waitForEvent('load', { timeout: 120_000 });
    await ui.runCommand('Developer: Reload Window');
    await reloaded;
    await waitForWorkbench(page, 120_000);
    await ui.activity('kgpu').waitFor({ state: 'visible', timeout: 60_000 });
    const tab = page.locator('.part.editor .tab', { hasText: NOTEBOOK }).first();
    if ((await tab.count()) === 0) await openNotebook(ui, NOTEBOOK);
    else if (!(await tab.evaluate((e) => e.classList.contains('active')))) await tab.click();

    // The reloaded window rebinds the pod's kernel, reattaches and rebuilds the cell's output.
    await waitForOutput(ui, (_lines, text) => /^done$/m.test(text), 'the cell\'s last line ("done") after the reload', 180_000);
    const success = page.locator('.notebook-editor .cell-statusbar-container .codicon-notebook-state-success >> visible=true').first();
    await success.waitFor({ state: 'visible', timeout: 60_000 });
    const { lines } = await cellOutput(ui);
    assert.deepEqual(
      lines,
      Array.from({ length: LINES }, (_, i) => i),
      'every line exactly once, in order',
    );
    await ui.assertNoErrorNotifications();
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await page.mouse.move(0, 0); // no hover (the tab's path) in the shot
    await ui.screenshot('finished-after-reload', { publish: true });
  },
};

async function openNotebook(ui, name) {
  // Quick Open (as ui.openFile, which waits for a text editor; a notebook has cell editors instead).
  const { page } = ui;
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible' });
  await input.fill(name);
  await page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible' });
  await page.keyboard.press('Enter');
  await page.locator('.part.editor .tab.active', { hasText: name }).waitFor({ state: 'visible' });
  // The visible one: the other notebook's editor may still be in the DOM, hidden.
  await page
    .locator('.notebook-editor .cell-editor-part .view-lines >> visible=true')
    .first()
    .waitFor({ state: 'visible', timeout: 60_000 });
}

/** The notebook's kernel picker: the pod's kgpu kernel directly, or through "Select Another Kernel…". */
async function selectKgpuKernel(ui) {
  const { page } = ui;
  await ui.runCommand('Notebook: Select Notebook Kernel');
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
  const kernel = rows.filter({ hasText: /kgpu · rtx3090/ }).first();
  const another = rows.filter({ hasText: /Select Another Kernel/ }).first();
  const source = rows.filter({ hasText: /^kgpu — GPU rentals/ }).first();
  for (let step = 0; ; step++) {
    assert.ok(step < 4, 'the kernel picker offers the kgpu kernel');
    await kernel.or(another).or(source).first().waitFor({ state: 'visible', timeout: 30_000 });
    if (await kernel.isVisible()) {
      await ui.pick('kgpu · rtx3090');
      break;
    }
    if (await another.isVisible()) {
      await ui.pick('Select Another Kernel');
      // The list is replaced: wait for the old row to go.
      await another.waitFor({ state: 'hidden' });
    } else {
      await ui.pick('kgpu — GPU rentals');
      await source.waitFor({ state: 'hidden' });
    }
  }
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  await page
    .locator('.notebook-editor .kernel-label, .part.editor .action-item', { hasText: /kgpu · rtx3090/ })
    .locator('visible=true')
    .first()
    .waitFor({ state: 'visible', timeout: 30_000 })
    .catch(() => undefined); // the toolbar's label is cosmetic; the cell's output below is what counts
}

/** The first cell's text output (rendered in the notebook's output webview) and its `line N` numbers. */
async function cellOutput(ui) {
  const texts = [];
  for (const frame of ui.page.frames()) {
    const out = frame.locator('.output-stream, .output-plaintext');
    if ((await out.count().catch(() => 0)) === 0) continue;
    texts.push(...(await out.allInnerTexts().catch(() => [])));
  }
  const text = texts.join('\n');
  const lines = [...text.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
  return { text, lines };
}

/** Every output webview's text and how many images it shows (a notebook's outputs render in one). */
async function outputs(ui) {
  const texts = [];
  let images = 0;
  for (const frame of ui.page.frames()) {
    const out = frame.locator('.output-stream, .output-plaintext, img');
    if ((await out.count().catch(() => 0)) === 0) continue;
    texts.push(
      await frame
        .locator('body')
        .innerText()
        .catch(() => ''),
    );
    images += await frame
      .locator('img')
      .count()
      .catch(() => 0);
  }
  return { text: texts.join('\n'), images };
}

async function waitForOutputs(ui, ok, what, timeoutMs, before = async () => {}) {
  let last = '';
  await assertEventually(
    async () => {
      await before();
      const o = await outputs(ui);
      last = o.text;
      return ok(o);
    },
    what,
    timeoutMs,
  ).catch((e) => {
    throw new Error(`${e.message}; the outputs show: ${JSON.stringify(last.slice(-400))}`);
  });
}

/** Scroll the notebook to its end (the wheel over the editor; idempotent). */
async function scrollToEnd(ui) {
  const box = await ui.page.locator('.notebook-editor').first().boundingBox();
  if (!box) return;
  await ui.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await ui.page.mouse.wheel(0, 4000);
}

async function waitForOutput(ui, ok, what, timeoutMs) {
  let last = '';
  await assertEventually(
    async () => {
      const { text, lines } = await cellOutput(ui);
      last = text;
      return ok(lines, text);
    },
    what,
    timeoutMs,
  ).catch((e) => {
    throw new Error(`${e.message}; the output shows: ${JSON.stringify(last.slice(-400))}`);
  });
}

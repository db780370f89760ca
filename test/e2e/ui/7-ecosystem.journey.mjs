// Journey 7: what fits kgpu into VS Code's own conventions (issue 24), on one rented pod.
//  (a) `kgpu: Get Started` opens the kgpu walkthrough in the Welcome editor.
//  (b) A script that raises runs on the GPU; in its job log the traceback frame
//      `File "/workspace/<folder>/crash.py", line N` is a link: hovered it says where it leads,
//      Ctrl+click opens the local crash.py at line N.
//  (c) A `kgpu` task from .vscode/tasks.json runs in the pod; its output and exit code are in the
//      task's terminal.
// Every wait is for a state (a row, a text, a tab), never for time.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { assertEventually } from './helpers.mjs';

const CRASH = `"""Fails on purpose: its traceback's frames are links in the job log."""


def load_batch(i):
    raise ValueError(f"batch {i} is corrupt")


def main():
    for i in range(3):
        print(f"loading batch {i}", flush=True)
        load_batch(i)


main()
`;
const RAISE_LINE = 5; // `raise ValueError(…)` above

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'the walkthrough, a traceback link to the local file, a kgpu task in the terminal',
  needsSimulator: true,
  timeoutMs: 300_000,
  async run(ui) {
    const { page } = ui;
    const crash = join(ui.workspace, 'crash.py');
    const vscodeDir = join(ui.workspace, '.vscode');
    const folder = basename(ui.workspace);
    writeFileSync(crash, CRASH);
    mkdirSync(vscodeDir, { recursive: true });
    // Its output must fit the terminal's visible rows (the assertion reads them): `ls crash.py`, not
    // `ls` — the shared workspace folder holds every earlier journey's files (the header line scrolled
    // out of view in a full run).
    const task = {
      label: 'GPU check',
      type: 'kgpu',
      command: `nvidia-smi -L && python3 -c "import torch; print('torch', torch.__version__)" && ls crash.py`,
      problemMatcher: [],
      group: { kind: 'build', isDefault: true },
    };
    writeFileSync(join(vscodeDir, 'tasks.json'), `${JSON.stringify({ version: '2.0.0', tasks: [task] }, null, 2)}\n`);
    try {
      await ui.openWorkbench();
      await ui.clickActivity('kgpu');
      await ui.expandView('Account');

      // (a) `kgpu: Get Started` (also the signed-out Account view's link where no simulator is
      // reachable): the walkthrough in the Welcome editor.
      await ui.runCommand('kgpu: Get Started');
      const welcome = page.locator('.part.editor .gettingStartedContainer');
      await welcome.getByText('Get started with kgpu').first().waitFor({ state: 'visible', timeout: 30_000 });
      await welcome.getByText('Rent a GPU').first().waitFor({ state: 'visible' });
      await welcome.getByText('Release when you are done').first().waitFor({ state: 'visible' });
      await ui.screenshot('walkthrough', { publish: true });

      await ui.signInFromAccount();

      // (b) crash.py on a GPU: rent from the pod choice (no pod yet), run without arguments.
      await ui.openFile('crash.py');
      const run = page.locator('.part.editor .action-label[aria-label*="Run Active File on GPU"]').first();
      await run.waitFor({ state: 'visible' });
      await run.click();
      await ui.pick('Rent a new GPU');
      await ui.pick('rtx3090');
      await ui.pick('1 GPU');
      await ui.pick('Rent now');
      const rent = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Rent$/ }).first();
      await rent.waitFor({ state: 'visible' });
      await rent.click();
      await page
        .locator('.quick-input-widget .quick-input-title', { hasText: 'Arguments for crash.py' })
        .waitFor({ state: 'visible', timeout: 60_000 });
      await ui.answer('');
      await ui.waitForPanelText(/exit code 1 ·/, 60_000);
      const frame = `File "/workspace/${folder}/crash.py", line ${RAISE_LINE}`;
      assert.ok((await ui.terminalText()).replace(/\u00a0/g, ' ').includes(frame), `the job log shows ${frame}`);
      await ui.runCommand('Notifications: Clear All Notifications');
      await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });

      // Hover the frame's path: the link's hover says where it goes; Ctrl+click follows it. The
      // workbench asks the extension for a line's links when the mouse is over it, so hover until
      // the hover shows, then click.
      const hover = page.locator('.monaco-hover, .workbench-hover', { hasText: `crash.py at line ${RAISE_LINE}` });
      await assertEventually(
        async () => {
          const at = await textPosition(page, frame, `/workspace/${folder}/crash.py`);
          if (!at) return false;
          await page.mouse.move(at.x - 40, at.y);
          await page.mouse.move(at.x, at.y, { steps: 4 });
          return hover
            .first()
            .waitFor({ state: 'visible', timeout: 3_000 })
            .then(() => true)
            .catch(() => false);
        },
        'the traceback link hover',
        60_000,
      );
      const at = await textPosition(page, frame, `/workspace/${folder}/crash.py`);
      assert.ok(at, 'the frame is still on screen');
      await page.keyboard.down('Control');
      await page.mouse.click(at.x, at.y);
      await page.keyboard.up('Control');
      // The local crash.py (not the pod's kgpu:// copy) at the raising line: the Explorer reveals it
      // as the active file (a kgpu:// file is in no workspace folder).
      await page.locator('.part.editor .tab.active', { hasText: 'crash.py' }).waitFor({ state: 'visible' });
      await ui.waitForText(`Ln ${RAISE_LINE}, Col 1`, { within: page.locator('.part.statusbar') });
      await ui.clickActivity('Explorer');
      await page.locator('.explorer-folders-view .monaco-list-row.selected', { hasText: 'crash.py' }).waitFor({ state: 'visible' });
      // Hover the link again so the published shot shows the link, where it leads, and the file.
      await assertEventually(
        async () => {
          const p = await textPosition(page, frame, `/workspace/${folder}/crash.py`);
          if (!p) return false;
          await page.mouse.move(p.x - 40, p.y);
          await page.mouse.move(p.x, p.y, { steps: 4 });
          return hover
            .first()
            .waitFor({ state: 'visible', timeout: 3_000 })
            .then(() => true)
            .catch(() => false);
        },
        'the traceback link hover (again)',
        30_000,
      );
      await ui.screenshot('traceback-link', { publish: true });

      // (c) The `kgpu` task from tasks.json (the default build task: no task picker), on the only
      // ready pod. The shot after the command is evidence of what the workbench did with it.
      await page.mouse.move(0, 0);
      await ui.openFile('tasks.json');
      await ui.runCommand('Tasks: Run Build Task');
      await ui.waitForPanelText(/\(rtx3090\): nvidia-smi -L/, 60_000).catch(async (e) => {
        await ui.screenshot('task-not-started');
        throw e;
      });
      await ui.waitForPanelText(/\[kgpu\] exit code 0/, 90_000);
      // The task's terminal is the visible one (the job log's is a second terminal, hidden now).
      const out = await page.locator('.part.panel .xterm-rows:visible').first().innerText();
      assert.match(out, /\[kgpu\] .*\(rtx3090\): nvidia-smi -L/);
      assert.match(out, /GPU 0: NVIDIA GeForce RTX 3090/);
      assert.match(out, /torch \d+\.\d+/);
      assert.match(out, /crash\.py/, 'ran in /workspace/<folder>');
      await ui.assertNoErrorNotifications();
      await ui.screenshot('task-output', { publish: true });
    } finally {
      rmSync(crash, { force: true });
      rmSync(vscodeDir, { recursive: true, force: true });
      // Leave the shared simulator as found: release what this journey rented.
      await ui.api.releaseAll();
    }
  },
};

/**
 * The viewport position of `needle` inside the terminal row that shows `row` (the DOM renderer's
 * text nodes), or undefined while no row shows it.
 */
async function textPosition(page, row, needle) {
  return page.evaluate(
    ([rowText, needleText]) => {
      const rows = [...document.querySelectorAll('.part.panel .xterm-rows > div')];
      const el = rows.find((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').includes(rowText));
      if (!el) return undefined;
      const text = (el.textContent ?? '').replace(/\u00a0/g, ' ');
      let start = text.indexOf(needleText) + Math.floor(needleText.length / 2);
      const walker = document.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const len = n.textContent?.length ?? 0;
        if (start < len) {
          const range = document.createRange();
          range.setStart(n, start);
          range.setEnd(n, start + 1);
          const r = range.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        }
        start -= len;
      }
      return undefined;
    },
    [row, needle],
  );
}

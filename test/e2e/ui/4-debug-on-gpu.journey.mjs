// Journey 4: rent a GPU, set a breakpoint in the sample project's train.py (F9 on the training
// loop's `step += 1`), press the editor title's "Debug Active File on GPU" button, and see the editor
// stop there with the Variables view filled from the pod (the loss tensor); then stop debugging.
import assert from 'node:assert/strict';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'debug train.py on a GPU: stop at a breakpoint with the variables from the pod',
  needsSimulator: true,
  timeoutMs: 300_000,
  async run(ui) {
    const { page } = ui;
    await ui.signIn();

    await ui.runCommand('kgpu: Rent GPU');
    await ui.pick('rtx3090');
    await ui.pick('1 GPU');
    await ui.pick('Rent now');
    const rent = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Rent$/ }).first();
    await rent.waitFor({ state: 'visible' });
    await rent.click();
    await ui.waitForText(/rtx3090/, { within: ui.view('Rentals'), timeoutMs: 30_000 });

    await ui.openFile('train.py');
    await ui.runCommand('Go to Line/Column...');
    await page.keyboard.type('59');
    await page.keyboard.press('Enter');
    await ui.runCommand('Debug: Toggle Breakpoint');
    await page.locator('.part.editor .codicon-debug-breakpoint').first().waitFor({ state: 'visible' });

    const debug = page.locator('.part.editor .action-label[aria-label*="Debug Active File on GPU"]').first();
    await debug.waitFor({ state: 'visible' });
    await debug.click();
    // The pod: picked here unless Run's choice for this workspace is already known.
    const picker = page.locator('.quick-input-widget .quick-input-title', { hasText: /which GPU/ });
    if (
      await picker.waitFor({ state: 'visible', timeout: 10_000 }).then(
        () => true,
        () => false,
      )
    )
      await ui.pick('rtx3090');

    // Stopped on the local train.py, line 59, with the loss tensor in the Variables view.
    await page.locator('.part.editor .codicon-debug-stackframe').first().waitFor({ state: 'visible', timeout: 240_000 });
    const tab = page.locator('.part.editor .tab.active');
    assert.match((await tab.textContent()) ?? '', /train\.py/);
    // Locals, filled from the pod: the loss tensor as debugpy shows it.
    await page
      .locator('.monaco-list-row', { hasText: /^Locals$/ })
      .first()
      .click();
    await page
      .locator('.monaco-list-row', { hasText: /loss.*tensor\(/ })
      .first()
      .waitFor({ state: 'visible', timeout: 30_000 });
    await ui.assertNoErrorNotifications();
    await ui.screenshot('stopped-at-breakpoint', { publish: true });

    // Stop (the debug toolbar's button): the session ends, the program with it.
    await page.locator('.debug-toolbar .codicon-debug-stop').first().click();
    await page.locator('.part.editor .codicon-debug-stackframe').first().waitFor({ state: 'hidden', timeout: 60_000 });

    await ui.api.releaseAll();
  },
};

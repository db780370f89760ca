// Journey 3: open train.py from the sample project, press the editor title's "Run Active File on
// GPU" button, rent a GPU from the pod picker (no pod yet), give arguments, and watch the live log
// in the panel until the footer shows the exit code.
import assert from 'node:assert/strict';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'run train.py on a GPU and watch the live log',
  needsSimulator: true,
  timeoutMs: 240_000,
  async run(ui) {
    const { page } = ui;
    await ui.signIn();

    await ui.openFile('train.py');
    const run = page.locator('.part.editor .action-label[aria-label*="Run Active File on GPU"]').first();
    await run.waitFor({ state: 'visible' });
    await ui.screenshot('run-button');
    await run.click();

    // No pod yet: the picker offers to rent one; the rent wizard (model, count, rent now, confirm).
    await ui.pick('Rent a new GPU');
    await ui.pick('rtx3090');
    await ui.pick('1 GPU');
    await ui.pick('Rent now');
    const rent = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Rent$/ }).first();
    await rent.waitFor({ state: 'visible' });
    await rent.click();

    // Once ready: the per-file arguments prompt, then the log panel.
    const title = page.locator('.quick-input-widget .quick-input-title', { hasText: 'Arguments for train.py' });
    await title.waitFor({ state: 'visible', timeout: 30_000 });
    await ui.answer('--epochs 3 --steps 30 --lr 0.3 --delay 0.03');
    // The sync line comes first; it is read while it is on screen (the panel shows the last rows only,
    // and the PyTorch sample's output pushes it out of view).
    await ui.waitForPanelText(/synced \d+ changed files? .* to \/workspace\//, 60_000);
    await ui.waitForPanelText(/epoch 1\/3/, 60_000);
    await ui.screenshot('live-log');
    await ui.waitForPanelText(/exit code 0 ·/, 30_000);
    const text = await ui.terminalText();
    assert.match(text, /epoch 3\/3 loss/);
    assert.match(text, /credits \(\$/);
    await ui.assertNoErrorNotifications();
    // The job row under the rental (expand the rental), then the published shot without the toasts.
    await ui.treeItem('Rentals', 'rtx3090').click();
    await ui.treeItem('Rentals', 'exited with code 0').waitFor({ state: 'visible', timeout: 15_000 });
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await ui.screenshot('run-finished', { publish: true });

    // Leave the shared simulator as found: release what this journey rented.
    await ui.api.releaseAll();
  },
};

// Journey 5 (issue 23): rent two pods (an rtx3090 × 2 and an rtx3080 × 1), run the sample project's
// ddp_train.py on the 2-GPU pod with "All 2 GPUs with torchrun" and see both ranks' lines in the log
// panel; then kgpu: Run Sweep… on train.py over both pods with a typed grid, and wait until the
// Sweeps view shows every run succeeded with its loss.
import assert from 'node:assert/strict';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'torchrun on both GPUs of a pod, then a sweep over two pods in the Sweeps view',
  needsSimulator: true,
  timeoutMs: 300_000,
  async run(ui) {
    const { page } = ui;
    const title = (text) => page.locator('.quick-input-widget .quick-input-title', { hasText: text });
    await ui.signIn();

    // Two rentals through the Rent wizard; the second starts while the first is still starting. A
    // ready row reads `rtx3090 × 2 · [live GPU numbers · ]Running · …` ("Running, not ready yet" before).
    for (const [model, count] of [
      ['rtx3090', '2 GPUs'],
      ['rtx3080', '1 GPU'],
    ]) {
      await ui.runCommand('kgpu: Rent GPU');
      await title('model').waitFor({ state: 'visible' });
      await ui.pick(model);
      await title('how many GPUs').waitFor({ state: 'visible' });
      await ui.pick(count);
      await ui.pick('Rent now');
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible' });
      await ui.button(/^Rent$/, dialog).click();
      await dialog.waitFor({ state: 'hidden' });
    }
    await ui.expandView('Rentals');
    await ui.treeItem('Rentals', /rtx3090 × 2 · (.* · )?Running · /).waitFor({ state: 'visible', timeout: 120_000 });
    await ui.treeItem('Rentals', /rtx3080 × 1 · (.* · )?Running · /).waitFor({ state: 'visible', timeout: 120_000 });

    // ddp_train.py on the 2-GPU pod, all GPUs with torchrun: each line behind its rank.
    // train.py first: Quick Open ranks a recently opened ddp_train.py above it once that is open.
    await ui.openFile('train.py');
    await ui.openFile('ddp_train.py');
    await ui.runCommand('kgpu: Run Active File on GPU');
    await title('Run ddp_train.py on which GPU?').waitFor({ state: 'visible', timeout: 30_000 });
    await ui.pick('rtx3090 × 2');
    await title('Arguments for ddp_train.py').waitFor({ state: 'visible', timeout: 30_000 });
    await ui.answer('--epochs 1 --steps 5');
    await ui.pick('All 2 GPUs with torchrun');
    // The panel shows its last rows only, and the ranks' lines come in any order: once the log has
    // begun, the panel is maximized (the terminal keeps what scrolled by) so the whole short log fits.
    await ui.waitForPanelText(/\[rank 0\]/, 120_000);
    await ui.runCommand('View: Toggle Maximized Panel');
    await ui.waitForPanelText(/exit code 0 ·/, 120_000);
    const log = await ui.terminalText();
    assert.match(log, /\[rank 0\] DDP: 2 processes, backend gloo/);
    assert.match(log, /\[rank 0\] rank 0\/2 done in/);
    assert.match(log, /\[rank 1\] rank 1\/2 done in/);
    await ui.assertNoErrorNotifications();
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await ui.screenshot('torchrun-two-ranks', { publish: true });
    await ui.runCommand('View: Toggle Maximized Panel');

    // Room for the Sweeps view (its rows are rendered only where the pane has room): the other views collapsed.
    for (const v of ['Account', 'GPU Models']) {
      const header = ui.view(v).locator('.pane-header');
      if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
    }
    // A sweep of train.py over both pods: a typed grid of two argument sets, the pods both ticked.
    const trainTab = page.locator('.part.editor .tab', { hasText: /^\s*train\.py/ });
    await trainTab.click();
    await page.locator('.part.editor .tab.active', { hasText: /^\s*train\.py/ }).waitFor();
    await ui.runCommand('kgpu: Run Sweep…');
    await title('Sweep train.py: which argument sets?').waitFor({ state: 'visible', timeout: 30_000 });
    await ui.pick('Type a grid…');
    await title('Sweep train.py: the grid').waitFor({ state: 'visible' });
    await ui.answer('--epochs 2 --steps 10 --delay 0 --lr 0.05,0.1');
    await title('Sweep train.py: 2 runs on which pods?').waitFor({ state: 'visible' });
    const checked = page.locator('.quick-input-widget .quick-input-list .monaco-list-row[aria-checked="true"]');
    await checked.filter({ hasText: 'rtx3090 × 2' }).waitFor({ state: 'visible' });
    await checked.filter({ hasText: 'rtx3080 × 1' }).waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible' });
    await ui.button('Start Sweep', dialog).click();

    // The Sweeps view: the sweep's row, then every run succeeded with its loss.
    await ui.treeItem('Sweeps', /2\/2 done · 2 pods/).waitFor({ state: 'visible', timeout: 240_000 });
    for (const lr of ['0.05', '0.1'])
      await ui
        .treeItem('Sweeps', new RegExp(`--lr ${lr.replace('.', '\\.')}\\s*succeeded · .* loss \\d`))
        .waitFor({ state: 'visible', timeout: 30_000 });
    await ui.assertNoErrorNotifications();
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await ui.screenshot('sweep-finished', { publish: true });
  },
};

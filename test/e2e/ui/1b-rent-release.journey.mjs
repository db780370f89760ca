// Journey 1, second part (after 1a's sign-in): rent an rtx3090 from its row's inline action, watch
// it start in a progress notification until ready, see the row, the Account burn and the cost in
// the status bar, then release it from the row's context menu and see "Released by you".
import assert from 'node:assert/strict';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'rent an rtx3090 from the sidebar, watch it become ready, release it',
  needsSimulator: true,
  continues: true,
  timeoutMs: 90_000,
  async run(ui) {
    const { page } = ui;
    await ui.waitForText(/credits/, { within: ui.view('Account') });
    await ui.expandView('GPU Models');
    const row = ui.treeItem('GPU Models', 'rtx3090');
    await ui.clickRowAction(row, 'Rent GPU');

    // The model comes from the row: GPU count, then "Rent now", then the confirmation with the cost.
    await ui.pick('1 GPU');
    await ui.pick('Rent now');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.innerText(), /600 credits\/h \(\$0\.40\/h\)/, 'the confirmation says what it costs');
    await ui.screenshot('rent-confirm');
    await ui.button(/^Rent$/, dialog).click();

    await ui.notification(/starting rent/).waitFor({ state: 'visible', timeout: 15_000 });
    await ui.expandView('Rentals');
    await ui.screenshot('rent-starting');
    await ui.notification(/is ready/).waitFor({ state: 'visible', timeout: 40_000 });
    const rental = ui.treeItem('Rentals', 'rtx3090 × 1');
    await rental.getByText(/Running/).waitFor({ state: 'visible', timeout: 15_000 });
    await ui.waitForText(/600 credits\/h \(\$0\.40\/h\) · 1 pod/, { within: ui.view('Account') });
    const status = page.locator('.part.statusbar .statusbar-item', { hasText: /1 GPU · \$0\.40\/h · .* left/ });
    await status.waitFor({ state: 'visible' });
    await ui.assertNoErrorNotifications();
    await ui.screenshot('rental-ready', { publish: true });

    // Release from the row's context menu, confirm, and the row says why it ended.
    await rental.click({ button: 'right' });
    // (VS Code's menus act on a hovered item with Enter; a synthetic click is not always taken.)
    await page
      .locator('.context-view .action-label', { hasText: /^Release$/ })
      .first()
      .hover();
    await page.keyboard.press('Enter');
    const confirm = page.locator('.monaco-dialog-box');
    await confirm.waitFor({ state: 'visible' });
    assert.match(await confirm.innerText(), /copy your results out first/);
    await ui.button(/^Release$/, confirm).click();
    await ui.waitForText(/Released by you/, { within: ui.view('Rentals'), timeoutMs: 20_000 });
    await status.waitFor({ state: 'hidden', timeout: 10_000 });
    await ui.assertNoErrorNotifications();
    await ui.screenshot('released', { publish: true });
    await ui.runCommand('kgpu: Clear Ended Rentals');
    await ui.button('Rent a GPU', ui.view('Rentals')).waitFor({ state: 'visible', timeout: 10_000 });
  },
};

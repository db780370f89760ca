// Journey 1, first part: sign in from the sidebar's welcome button with the account token.
// (Rent an rtx3090 from its row, watch it start, release it: 1b-…journey.mjs with `continues: true`.)
import assert from 'node:assert/strict';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'sign in from the sidebar',
  needsSimulator: true,
  async run(ui) {
    await ui.openWorkbench();
    await ui.clickActivity('kgpu');
    await ui.expandView('Account');
    await ui.button('Sign in', ui.view('Account')).click();
    const input = ui.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    assert.equal(await input.getAttribute('type'), 'password', 'the token is typed into a password box');
    await ui.screenshot('token-prompt');
    await ui.answer(ui.sim.KGPU_API_TOKEN);
    await ui.notification(/signed in as/i).waitFor({ state: 'visible', timeout: 20_000 });
    await ui.waitForText(/credits/, { within: ui.view('Account') });
    assert.equal(await ui.button('Sign in', ui.view('Account')).count(), 0, 'the welcome "Sign in" button is gone');
    await ui.assertNoErrorNotifications();
    await ui.screenshot('signed-in', { publish: true });
  },
};

// Journey 0: a new user opens VS Code, clicks the kgpu icon and sees the sidebar, signed out.
import assert from 'node:assert/strict';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'open the kgpu sidebar (signed out)',
  needsSimulator: false,
  async run(ui) {
    await ui.openWorkbench();
    await ui.clickActivity('kgpu');
    for (const title of ['Account', 'GPU Models', 'Rentals']) {
      await ui.view(title).waitFor({ state: 'visible' });
    }
    await ui.expandView('Account');
    const signIn = ui.button('Sign in', ui.view('Account'));
    await signIn.waitFor({ state: 'visible' });
    assert.equal((await signIn.innerText()).trim(), 'Sign in');
    await ui.waitForText('Try the simulator', { within: ui.view('Account') });
    await ui.assertNoErrorNotifications();
    await ui.screenshot('sidebar-signed-out', { publish: true });
  },
};

// Journey 4: a web server runs in a rented pod (started through the simulator's exec API, as a
// training script's dashboard would be); `kgpu: Forward Port…` offers it among the pod's listening
// ports, forwards it to this machine's 127.0.0.1, and the rental row shows live GPU numbers with the
// forwarded port under it. The page is fetched through the forward.
import assert from 'node:assert/strict';
import { assertEventually } from './helpers.mjs';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: 'forward a pod-side web server and see the live GPU numbers',
  needsSimulator: true,
  timeoutMs: 240_000,
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
    await ui.expandView('Rentals');
    await ui.screenshot('ready');

    const pods = await ui.api.get('/pods');
    const pod = pods.find((p) => p.phase === 'Running');
    assert.ok(pod, 'a running pod');
    const started = await ui.api.sh(
      pod.pod_id,
      'mkdir -p /workspace/www && echo "<h1>metrics dashboard</h1>" > /workspace/www/index.html && setsid -f python3 -m http.server 8000 --bind 127.0.0.1 --directory /workspace/www </dev/null >/dev/null 2>&1',
    );
    assert.equal(started.exit_code, 0, JSON.stringify(started));

    await ui.runCommand('kgpu: Forward Port…');
    await page
      .locator('.quick-input-widget .quick-input-title', { hasText: 'forward which port' })
      .waitFor({ state: 'visible', timeout: 30_000 });
    await ui.screenshot('listening-ports');
    await ui.pick('8000'); // the pod's listening ports, with their program
    await ui.answer('8000', { title: 'to which local port' }); // the same local port when free
    await ui.screenshot('forward-started');
    // The forward is a row under the rental. It reaches the tree through an event, after the input
    // box closed: the rental row turns from a leaf into an expanded parent. Act on the row's state,
    // never on a guess: a click while that refresh lands collapses the row it just expanded (the
    // fresh-clone run timed out here). Only a collapsed parent (aria-expanded="false", which stays so
    // until clicked) is clicked, and then only until it shows as expanded.
    const rental = ui.treeItem('Rentals', 'rtx3090 × 1');
    const row = ui.treeItem('Rentals', /localhost:\d+/);
    await assertEventually(
      async () => {
        if (await row.isVisible()) return true;
        if ((await rental.getAttribute('aria-expanded')) === 'false') {
          await rental.click();
          await assertEventually(async () => (await rental.getAttribute('aria-expanded')) !== 'false', 'the rental row to expand');
        }
        return false;
      },
      'the forwarded port row under the rental',
      60_000,
    );
    const label = await row.innerText();
    const port = Number(/localhost:(\d+)/.exec(label)?.[1]);
    const res = await fetch(`http://127.0.0.1:${port}/index.html`);
    assert.match(await res.text(), /metrics dashboard/);
    await ui.waitForText(/GPU \d+% · [\d.]+\/24 GiB/, { within: ui.view('Rentals'), timeoutMs: 30_000 });
    await ui.runCommand('Notifications: Clear All Notifications');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await ui.screenshot('forwarded', { publish: true });

    await ui.api.releaseAll();
  },
};

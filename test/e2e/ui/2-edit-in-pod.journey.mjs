// Journey 2: edit the pod's /workspace in the editor. Sign in, rent an rtx3090 named "mnist" from the
// palette (`kgpu: Rent GPU…` → Advanced options… → name), put the sample project's train.py into the
// pod (REST exec, as a previous upload or `git clone` would have), `kgpu: Open Workspace` → "Add to
// Workspace", see the pod's folder in the Explorer named after the pod, open train.py from it, change
// a line, Ctrl+S, and check the change IN THE POD (REST exec `cat`); then a process in the pod writes
// checkpoints/model.json and it appears in the Explorer without a manual refresh.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SAMPLE_PROJECT } from '../lib/workspace.mjs';
import { waitForWorkbench } from '../lib/browser.mjs';
import { assertEventually } from './helpers.mjs';

const NAME = 'mnist';

/** @type {import('./helpers.mjs').Journey} */
export const journey = {
  title: "open the pod's /workspace, edit and save train.py, see a job's checkpoint appear",
  needsSimulator: true,
  timeoutMs: 240_000,
  async run(ui) {
    const { page, api } = ui;
    // The project is open as a (multi-root) workspace, the "Add to Workspace" case that needs no reload.
    // (A single-folder window turns into an untitled workspace and reloads; code-server 4.139 then
    // often shows "No Folder Opened" until the page is reloaded once more — not ours to test here.)
    const file = join(dirname(ui.workspace), 'project.code-workspace');
    writeFileSync(file, JSON.stringify({ folders: [{ path: ui.workspace, name: 'local project' }] }, null, 2));
    await page.goto(`${ui.url}/?workspace=${encodeURIComponent(file)}`);
    await waitForWorkbench(page);
    await ui.waitForKgpuIcon();
    await ui.runCommand('View: Show Explorer');
    const local = explorerRow(page, 'local project');
    // code-server 4.139 sometimes loads a workspace file as "No Folder Opened"; a reload reads it.
    if (
      !(await local.waitFor({ state: 'visible', timeout: 10_000 }).then(
        () => true,
        () => false,
      ))
    ) {
      console.log('      (code-server showed "No Folder Opened" for the workspace file; reloaded)');
      await page.reload();
      await waitForWorkbench(page);
      await ui.runCommand('View: Show Explorer');
      await local.waitFor({ state: 'visible', timeout: 20_000 });
    }
    await ui.signIn({ open: false });

    // Rent from the palette, naming the rental (the other advanced options keep their defaults).
    await ui.runCommand('kgpu: Rent GPU');
    await ui.pick('rtx3090');
    await ui.pick('1 GPU');
    await ui.pick('Advanced options');
    await ui.answer(NAME, { title: 'Rent GPU — name' });
    for (const step of ['image', 'CPU', 'memory', 'disk', 'environment']) {
      await page.locator('.quick-input-widget .quick-input-title', { hasText: `Rent GPU — ${step}` }).waitFor({ state: 'visible' });
      await page.keyboard.press('Enter');
    }
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible' });
    await ui.button(/^Rent$/, dialog).click();
    await ui.notification(/is ready/).waitFor({ state: 'visible', timeout: 40_000 });
    const pod = (await api.get('/pods')).find((p) => p.name === NAME && p.ready);
    assert.ok(pod, `a ready pod named ${NAME}`);

    try {
      // The project is in the pod already (as after kgpu: Upload… or a git clone in its terminal).
      const seeded = await api.exec(
        pod.pod_id,
        ['bash', '-c', 'mkdir -p /workspace/checkpoints && cat > /workspace/train.py'],
        readFileSync(`${SAMPLE_PROJECT}/train.py`, 'utf8'),
      );
      assert.equal(seeded.exit_code, 0, seeded.stderr);
      await ui.runCommand('Notifications: Clear All Notifications');

      // kgpu: Open Workspace → "Add to Workspace": the pod's folder, named after the pod, in the Explorer.
      await ui.runCommand('kgpu: Open Workspace');
      const choice = page.locator('.monaco-dialog-box');
      await choice.waitFor({ state: 'visible' });
      assert.match(await choice.innerText(), new RegExp(`/workspace of ${pod.pod_id}`));
      await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
      await ui.screenshot('open-workspace', { publish: true });
      await ui.button('Add to Workspace', choice).click();
      const folderName = `${NAME} (${pod.pod_id})`;
      const root = explorerRow(page, folderName);
      await root.waitFor({ state: 'visible', timeout: 30_000 });
      // Collapse the local project so only the pod's files show, expand the pod's folder.
      await setExpanded(explorerRow(page, 'local project'), false).catch(() => undefined);
      await setExpanded(root, true);
      await explorerRow(page, 'checkpoints').waitFor({ state: 'visible', timeout: 20_000 });
      await ui.screenshot('pod-folder');

      // Open train.py from the pod's folder, change the default number of epochs (line 80), save.
      await explorerRow(page, 'train.py').click();
      await page.locator('.part.editor .tab.active', { hasText: 'train.py' }).waitFor({ state: 'visible' });
      await ui.waitForText('A tiny PyTorch-style training loop', { within: page.locator('.part.editor') });
      // It is the pod's train.py: the breadcrumbs start at the pod's folder.
      await ui.waitForText(folderName, { within: page.locator('.part.editor .breadcrumbs-control').first() });
      await page.keyboard.press('Control+G');
      await ui.answer(':80');
      await ui.waitForText('parser.add_argument("--epochs", type=int, default=5)', { within: page.locator('.part.editor') });
      await page.keyboard.press('End');
      await page.keyboard.press('ArrowLeft');
      await page.keyboard.press('Backspace');
      await page.keyboard.type('8');
      await page.locator('.part.editor .tab.active.dirty').waitFor({ state: 'visible' });
      await ui.screenshot('edited');
      await ui.save();

      // The change is in the pod, the file otherwise intact, and the atomic save left no temp file.
      const cat = await api.exec(pod.pod_id, ['bash', '-c', 'cat /workspace/train.py; echo "--- ls"; ls -A /workspace']);
      assert.equal(cat.exit_code, 0, cat.stderr);
      const [content, listing] = cat.stdout.split('--- ls\n');
      const expected = readFileSync(`${SAMPLE_PROJECT}/train.py`, 'utf8').replace(
        '"--epochs", type=int, default=5)',
        '"--epochs", type=int, default=8)',
      );
      assert.equal(content, expected, 'the pod has the edited train.py');
      assert.deepEqual(listing.trim().split('\n').sort(), ['checkpoints', 'train.py'], 'nothing else in /workspace');

      // A process in the pod (the training script itself) writes checkpoints/model.json; the Explorer
      // shows it without a refresh (the provider's watch), and it opens.
      await setExpanded(explorerRow(page, 'checkpoints'), true);
      const run = await api.exec(pod.pod_id, [
        'bash',
        '-c',
        'cd /workspace && python3 train.py --epochs 3 --steps 30 --lr 0.3 --delay 0 >/dev/null && cat checkpoints/model.json',
      ]);
      assert.equal(run.exit_code, 0, `${run.stdout.slice(-1000)}${run.stderr}`);
      const model = explorerRow(page, 'model.json');
      await model.waitFor({ state: 'visible', timeout: 20_000 });
      await model.click();
      await page.locator('.part.editor .tab.active', { hasText: 'model.json' }).waitFor({ state: 'visible' });
      await ui.waitForText('"w"', { within: page.locator('.part.editor') });
      await page.locator('.part.editor .tab', { hasText: 'train.py' }).first().click();
      await page.locator('.part.editor .tab.active', { hasText: 'train.py' }).waitFor({ state: 'visible' });
      await ui.assertNoErrorNotifications();
      // For the published shot: let the status bar's transient messages go (bounded, best effort).
      const transient = page.locator('.part.statusbar .statusbar-item', { hasText: /Activating Extensions|added 1 folder/ });
      await assertEventually(async () => (await transient.count()) === 0, 'transient status bar messages', 15_000).catch(() => undefined);
      await ui.screenshot('saved-in-pod', { publish: true });
    } finally {
      // Leave the shared simulator as found.
      await api.delete(`/pods/${pod.pod_id}`);
    }
  },
};

/** A row of the Explorer (any root) by its exact label. */
function explorerRow(page, label) {
  return page
    .locator(
      `.explorer-folders-view .monaco-list-row[aria-label="${label}"], .explorer-folders-view .monaco-list-row:has(.label-name:text-is("${label}"))`,
    )
    .first();
}

async function setExpanded(row, expanded) {
  await row.waitFor({ state: 'visible', timeout: 5_000 });
  if ((await row.getAttribute('aria-expanded')) !== String(expanded)) await row.click();
  const deadline = Date.now() + 10_000;
  while ((await row.getAttribute('aria-expanded')) !== String(expanded)) {
    if (Date.now() > deadline) throw new Error(`Explorer row did not become ${expanded ? 'expanded' : 'collapsed'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A notebook on the rented GPU through the real VS Code notebook API: the sample project's
// notebook.ipynb (the built-in ipynb serializer reads it), the pod's kgpu controller chosen with
// notebook.selectKernel, Run All: the folder's path in the pod, a matplotlib PNG and a tqdm
// progress bar come back as the cells' outputs; Restart syncs a file written since and takes the
// current kgpu.env; then a pod released during a long cell says so.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import { EXTENSION_ID, openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator } from './helpers/simulator';

describe('notebooks: an IPython kernel in the pod', () => {
  needsSimulator();
  let services: KgpuServices;
  let podId: string | undefined;

  before(async function () {
    this.timeout(60_000);
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx4090',
      gpu_count: 1,
      name: 'e2e-notebook',
      yes: true,
    });
    assert.equal(typeof podId, 'string', 'a pod for the kernel');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 15_000, 'the pod to be ready in the model');
  });

  after(async function () {
    this.timeout(30_000);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (podId && services.pods.get(podId)?.phase === 'Running') await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  const cellText = (cell: vscode.NotebookCell, mime?: string): string =>
    cell.outputs
      .flatMap((o) => o.items)
      .filter((i) => !mime || i.mime === mime)
      .map((i) => Buffer.from(i.data).toString('utf8'))
      .join('');

  it('runs the sample notebook on the kgpu kernel: its folder in the pod, a matplotlib PNG, a progress bar', async function () {
    this.timeout(210_000);
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the sample project is open');
    const nb = await vscode.workspace.openNotebookDocument(vscode.Uri.joinPath(folder.uri, 'notebook.ipynb'));
    await vscode.window.showNotebookDocument(nb);
    const t0 = Date.now();
    await vscode.commands.executeCommand('notebook.selectKernel', { id: `kgpu-${podId}`, extension: EXTENSION_ID });
    await vscode.commands.executeCommand('notebook.execute');
    const code = nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    await waitUntil(() => code[0].outputs.length > 0, 180_000, 'the first output');
    const tFirst = Date.now() - t0;
    await waitUntil(() => code.every((c) => c.executionSummary?.success !== undefined), 200_000, 'every code cell to finish');
    console.log(`    kernel chosen → first output ${tFirst} ms, all cells done ${Date.now() - t0} ms`);
    for (const c of code) assert.equal(c.executionSummary?.success, true, `cell ${c.index}: ${cellText(c)}`);
    const [where, plot, progress] = code;
    assert.match(cellText(where, 'application/vnd.code.notebook.stdout'), new RegExp(`^/workspace/${folder.name}\\nPython 3`));
    const png = plot.outputs.flatMap((o) => o.items).find((i) => i.mime === 'image/png');
    assert.ok(png, `a PNG output: ${plot.outputs.flatMap((o) => o.items.map((i) => i.mime)).join(', ')}`);
    assert.deepEqual([...png.data.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const bar = cellText(progress, 'application/vnd.code.notebook.stderr');
    assert.match(bar, /steps: 100%\|█+\| 50\/50/);
    assert.ok(!bar.includes('\r'), 'the bar was updated in place (\\r applied)');
    assert.deepEqual(
      code.map((c) => c.executionSummary?.executionOrder),
      [1, 2, 3],
    );
  });

  it("the status bar shows the kernel's state and the pod's GPU numbers; the notebook keeps the pod's telemetry running with no kgpu view visible", async function () {
    this.timeout(120_000);
    const nb = vscode.window.activeNotebookEditor?.notebook;
    assert.ok(nb, 'the notebook is open');
    type Status = { visible: boolean; text: string; tooltip?: string };
    const status = (): Thenable<Status> => vscode.commands.executeCommand<Status>('kgpu._notebookStatus');
    const telemetry = async (): Promise<boolean> =>
      (await vscode.commands.executeCommand<{ running: boolean }>('kgpu._telemetryState', podId)).running;
    // No kgpu view visible (and no job on the pod): only the notebook wants the pod's numbers.
    await vscode.commands.executeCommand('workbench.action.closeSidebar');
    try {
      let last: Status | undefined;
      await waitUntil(
        async () => {
          last = await status();
          return last.visible && /rtx4090 · idle · GPU \d+% · [\d.]+\/[\d.]+ GiB$/.test(last.text);
        },
        60_000,
        'the status item with the GPU numbers',
      ).catch((e: Error) => {
        throw new Error(`${e.message}; it shows ${JSON.stringify(last)}`);
      });
      assert.ok(await telemetry(), "the pod's telemetry runs");
      // A text editor active: no kgpu notebook in front, the item hidden, the telemetry stops.
      const folder = vscode.workspace.workspaceFolders![0];
      await vscode.window.showTextDocument(vscode.Uri.joinPath(folder.uri, 'train.py'));
      await waitUntil(async () => !(await telemetry()), 30_000, "the pod's telemetry to stop with no notebook in front");
      assert.equal((await status()).visible, false);
      // The notebook in front again: held again.
      await vscode.window.showNotebookDocument(nb);
      await waitUntil(telemetry, 30_000, "the pod's telemetry to run again with the notebook in front");
    } finally {
      await openKgpuSidebar();
      await vscode.window.showNotebookDocument(nb);
    }
  });

  it('Restart syncs the changed files first and starts the kernel with the current kgpu.env', async function () {
    this.timeout(120_000);
    const nb = vscode.window.activeNotebookEditor?.notebook;
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(nb && folder, 'the notebook is open');
    // A module written after the kernel started, and a kgpu.env changed since: a restart sees both.
    const token = `restart-${Math.random().toString(16).slice(2)}`;
    await vscode.workspace.fs.writeFile(
      vscode.Uri.joinPath(folder.uri, 'nb_probe.py'),
      new TextEncoder().encode(`VALUE = ${JSON.stringify(token)}\n`),
    );
    const config = vscode.workspace.getConfiguration('kgpu');
    const oldEnv = config.inspect<Record<string, string>>('env')?.globalValue;
    await config.update('env', { ...oldEnv, KGPU_E2E_NB: token }, vscode.ConfigurationTarget.Global);
    try {
      await waitUntil(() => services.settings.get().env.KGPU_E2E_NB === token, 10_000, 'the new kgpu.env');
      await vscode.commands.executeCommand('kgpu.notebook.restartKernel');
      const edit = new vscode.WorkspaceEdit();
      edit.set(nb.uri, [
        vscode.NotebookEdit.insertCells(nb.cellCount, [
          new vscode.NotebookCellData(
            vscode.NotebookCellKind.Code,
            'import os, nb_probe\nprint(nb_probe.VALUE, os.environ.get("KGPU_E2E_NB"))',
            'python',
          ),
        ]),
      ]);
      await vscode.workspace.applyEdit(edit);
      const cell = nb.cellAt(nb.cellCount - 1);
      await vscode.commands.executeCommand('notebook.cell.execute', {
        ranges: [{ start: cell.index, end: cell.index + 1 }],
        document: nb.uri,
      });
      await waitUntil(() => cell.executionSummary?.success !== undefined, 60_000, 'the probe cell to finish');
      assert.equal(cellText(cell, 'application/vnd.code.notebook.stdout'), `${token} ${token}\n`, cellText(cell));
      assert.equal(cell.executionSummary?.executionOrder, 1, 'a new kernel counts from 1');
    } finally {
      await config.update('env', oldEnv, vscode.ConfigurationTarget.Global);
    }
  });

  it('a pod that ends while a cell runs says so in the cell, with the reason', async function () {
    this.timeout(90_000);
    const nb = vscode.window.activeNotebookEditor?.notebook;
    assert.ok(nb, 'the notebook is open');
    const edit = new vscode.WorkspaceEdit();
    edit.set(nb.uri, [
      vscode.NotebookEdit.insertCells(nb.cellCount, [
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code, 'import time\nprint("waiting", flush=True)\ntime.sleep(600)', 'python'),
      ]),
    ]);
    await vscode.workspace.applyEdit(edit);
    const cell = nb.cellAt(nb.cellCount - 1);
    await vscode.commands.executeCommand('notebook.cell.execute', {
      ranges: [{ start: cell.index, end: cell.index + 1 }],
      document: nb.uri,
    });
    await waitUntil(() => cellText(cell).includes('waiting'), 30_000, 'the long cell to print');
    await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
    await waitUntil(() => cell.executionSummary?.success === false, 45_000, 'the cell to end');
    assert.match(cellText(cell), /ended while this cell ran: Released by you/);
  });
});

// The kgpu: file system in a real VS Code: workspace.fs on kgpu://<pod>/workspace/… reads, writes,
// lists, renames, copies and deletes pod files; Upload…/Download… move files with option objects.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { KgpuServices } from '../../../src/platform/services';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator, simApi } from './helpers/simulator';

describe('file system: kgpu:// URIs', () => {
  const sim = needsSimulator();
  let services: KgpuServices;
  let podId: string | undefined;
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  const uri = (p: string): vscode.Uri => vscode.Uri.from({ scheme: 'kgpu', authority: podId!, path: p });

  before(async function () {
    this.timeout(90_000);
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'v100',
      gpu_count: 1,
      name: 'e2e-files',
      yes: true,
    });
    assert.equal(typeof podId, 'string');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 20_000, 'the pod to be ready');
  });

  after(async function () {
    this.timeout(30_000);
    if (podId) {
      await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
      await vscode.commands.executeCommand('kgpu.clearEnded');
    }
  });

  it('writes, reads, stats, lists, renames, copies and deletes pod files', async function () {
    this.timeout(30_000);
    await vscode.workspace.fs.createDirectory(uri('/workspace/e2e'));
    await vscode.workspace.fs.writeFile(uri('/workspace/e2e/train.py'), enc('print("hello from the pod")\n'));
    assert.equal(
      Buffer.from(await vscode.workspace.fs.readFile(uri('/workspace/e2e/train.py'))).toString(),
      'print("hello from the pod")\n',
    );
    const st = await vscode.workspace.fs.stat(uri('/workspace/e2e/train.py'));
    assert.equal(st.type, vscode.FileType.File);
    assert.equal(st.size, 28);
    await vscode.workspace.fs.writeFile(uri('/workspace/e2e/train.py'), enc('print(2)\n'));
    const st2 = await vscode.workspace.fs.stat(uri('/workspace/e2e/train.py'));
    assert.ok(st2.mtime > st.mtime, 'mtime advances on every write');
    assert.equal(st2.size, 9);

    await vscode.workspace.fs.rename(uri('/workspace/e2e/train.py'), uri('/workspace/e2e/run me.py'));
    await vscode.workspace.fs.copy(uri('/workspace/e2e/run me.py'), uri('/workspace/e2e/copy.py'));
    const names = (await vscode.workspace.fs.readDirectory(uri('/workspace/e2e'))).map(([n]) => n).sort();
    assert.deepEqual(names, ['copy.py', 'run me.py']);
    await assert.rejects(
      Promise.resolve(vscode.workspace.fs.rename(uri('/workspace/e2e/copy.py'), uri('/workspace/e2e/run me.py'), { overwrite: false })),
      (e: unknown) => e instanceof vscode.FileSystemError && e.code === 'FileExists',
    );
    await vscode.workspace.fs.delete(uri('/workspace/e2e'), { recursive: true });
    await assert.rejects(
      Promise.resolve(vscode.workspace.fs.stat(uri('/workspace/e2e'))),
      (e: unknown) => e instanceof vscode.FileSystemError && e.code === 'FileNotFound',
    );
  });

  it('opens a pod file in an editor and saves an edit to the pod', async function () {
    this.timeout(30_000);
    await vscode.workspace.fs.writeFile(uri('/workspace/edit.py'), enc('x = 1\n'));
    const doc = await vscode.workspace.openTextDocument(uri('/workspace/edit.py'));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((b) => b.insert(new vscode.Position(1, 0), 'y = 2\n'));
    assert.equal(await doc.save(), true);
    assert.equal(Buffer.from(await vscode.workspace.fs.readFile(uri('/workspace/edit.py'))).toString(), 'x = 1\ny = 2\n');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('sees a file created in the pod by a command (watch → onDidChangeFile → file watcher)', async function () {
    this.timeout(30_000);
    await vscode.workspace.fs.createDirectory(uri('/workspace/ckpt'));
    const created: string[] = [];
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(uri('/workspace'), '**/*.pt'));
    watcher.onDidCreate((u) => created.push(u.toString()));
    try {
      // Give the watch time to be established: poll-create files until one is reported.
      let i = 0;
      await waitUntil(
        async () => {
          i++;
          await simApi(sim(), `/pods/${podId}/exec`, {
            method: 'POST',
            body: JSON.stringify({ cmd: ['sh', '-c', `echo w > /workspace/ckpt/epoch-${i}.pt`] }),
          });
          const deadline = Date.now() + 1500;
          while (Date.now() < deadline && created.length === 0) await new Promise((r) => setTimeout(r, 50));
          return created.length > 0;
        },
        20_000,
        'a created-file event for a file made in the pod',
      );
      assert.ok(
        created.some((u) => /\/workspace\/ckpt\/epoch-\d+\.pt$/.test(u)),
        created.join(', '),
      );
      const names = (await vscode.workspace.fs.readDirectory(uri('/workspace/ckpt'))).map(([n]) => n);
      assert.ok(names.includes('epoch-1.pt'), names.join(', '));
    } finally {
      watcher.dispose();
    }
  });

  it('uploads a local folder and downloads it back (commands with option objects)', async function () {
    this.timeout(30_000);
    const local = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-e2e-up-'));
    try {
      fs.mkdirSync(path.join(local, 'data'));
      fs.writeFileSync(path.join(local, 'data', 'a.csv'), 'a,b\n1,2\n');
      const up = await vscode.commands.executeCommand<{ files: number } | undefined>('kgpu.upload', {
        podId,
        remoteDir: '/workspace',
        localPaths: [path.join(local, 'data')],
      });
      assert.equal(up?.files, 1);
      assert.equal(Buffer.from(await vscode.workspace.fs.readFile(uri('/workspace/data/a.csv'))).toString(), 'a,b\n1,2\n');
      const back = path.join(local, 'back');
      fs.mkdirSync(back);
      const down = await vscode.commands.executeCommand<{ files: number } | undefined>('kgpu.download', {
        podId,
        remotePaths: ['/workspace/data'],
        localDir: back,
      });
      assert.equal(down?.files, 1);
      assert.equal(fs.readFileSync(path.join(back, 'data', 'a.csv'), 'utf8'), 'a,b\n1,2\n');
    } finally {
      fs.rmSync(local, { recursive: true, force: true });
    }
  });
});

// Debug Active File on GPU through the real VS Code debug UI against the simulator: a breakpoint
// set in the sample project's train.py (the LOCAL file), the command starts a `kgpu` session (sync,
// debugpy in the pod over the agent stream), the editor stops there on the local file, the
// variables are filled from the pod (a tensor's repr), the debug console evaluates in the pod,
// a library file opens read-only (kgpu-lib://), the program is a job under the rental, and stopping
// the session ends it. Then Attach Debugger on a running job that called debugpy.listen(<port>)
// finds that port in the pod by itself and stops at a breakpoint in the local file.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { RunStarted } from '../../../src/jobs/run-command';
import type { KgpuServices } from '../../../src/platform/services';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator } from './helpers/simulator';

const STEP_LINE = 59; // `step += 1` in the training loop (1-based)

describe('debug on GPU: a kgpu debug session stops at a breakpoint in the local file', () => {
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
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: 'e2e-debug',
      yes: true,
    });
    assert.equal(typeof podId, 'string', 'a pod to debug on');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 15_000, 'the pod to be ready in the model');
  });

  after(async function () {
    this.timeout(30_000);
    vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
    if (podId) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  it('stops at the breakpoint in train.py with the variables from the pod, evaluates, and stops', async function () {
    this.timeout(300_000); // importing torch under debugpy's tracing takes a while on a loaded machine
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the sample project is open');
    const train = vscode.Uri.joinPath(folder.uri, 'train.py');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(train));
    vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(new vscode.Location(train, new vscode.Position(STEP_LINE - 1, 0)))]);

    const stopped = new Promise<vscode.DebugStackFrame>((resolve) => {
      const sub = vscode.debug.onDidChangeActiveStackItem((item) => {
        if (item instanceof vscode.DebugStackFrame) {
          sub.dispose();
          resolve(item);
        }
      });
    });
    const terminated = new Promise<vscode.DebugSession>((resolve) =>
      vscode.debug.onDidTerminateDebugSession((s) => s.type === 'kgpu' && resolve(s)),
    );
    const session = await vscode.commands.executeCommand<vscode.DebugSession | undefined>('kgpu.debugActiveFile', {
      podId,
      file: train,
      args: ['--epochs', '1', '--steps', '5', '--delay', '0'],
    });
    assert.ok(session, 'the command starts a debug session');
    assert.equal(session.type, 'kgpu');

    const frame = await stopped;
    const { stackFrames } = await session.customRequest('stackTrace', { threadId: frame.threadId, startFrame: 0, levels: 5 });
    assert.equal(stackFrames[0].line, STEP_LINE);
    // In a remote window (code-server) VS Code hands the path back as a vscode-remote:// URI of the same file.
    const framePath = String(stackFrames[0].source.path);
    assert.equal(
      framePath.includes('://') ? vscode.Uri.parse(framePath).fsPath : framePath,
      train.fsPath,
      'the frame is the local train.py',
    );
    await waitUntil(
      () =>
        vscode.window.activeTextEditor?.document.uri.fsPath === train.fsPath &&
        vscode.window.activeTextEditor.selection.active.line === STEP_LINE - 1,
      15_000,
      'the editor to show the stopped line',
    );

    const { scopes } = await session.customRequest('scopes', { frameId: stackFrames[0].id });
    const { variables } = await session.customRequest('variables', { variablesReference: scopes[0].variablesReference });
    const byName = new Map<string, string>(variables.map((v: { name: string; value: string }) => [v.name, v.value]));
    assert.equal(byName.get('step'), '0');
    assert.match(byName.get('loss') ?? '', /^tensor\(/, 'the loss tensor as debugpy shows it');
    const ev = await session.customRequest('evaluate', { expression: 'str(x.shape)', frameId: stackFrames[0].id, context: 'repl' });
    assert.equal(ev.result, `'torch.Size([32, 1])'`);

    // A library frame's file (here torch's own module file, as the debugger maps any pod path
    // outside /workspace) opens read-only: readable through the kgpu-lib view, never writable.
    const torchFile = await session.customRequest('evaluate', {
      expression: 'torch.__file__',
      frameId: stackFrames[0].id,
      context: 'repl',
    });
    const libPath = String(torchFile.result).replace(/^'|'$/g, '');
    assert.match(libPath, /^\/.+\/torch\/__init__\.py$/);
    const lib = vscode.Uri.parse(`kgpu-lib://${podId}${libPath}`);
    assert.equal(vscode.workspace.fs.isWritableFileSystem('kgpu-lib'), false, 'the library view is a read-only file system');
    assert.equal(vscode.workspace.fs.isWritableFileSystem('kgpu'), true);
    const libDoc = await vscode.workspace.openTextDocument(lib);
    assert.match(libDoc.getText(), /import/, "torch's source, read from the pod");
    await assert.rejects(
      Promise.resolve(vscode.workspace.fs.writeFile(lib, new TextEncoder().encode('x = 1\n'))),
      /read-only|NoPermissions|EROFS|readonly/i,
    );

    // The debugged program is a job of the rental, as a run is (issue 21): listed with the pod's jobs,
    // run through kgpu's debugpy launcher; stopping the session stops it.
    const runner = services.jobs.runner;
    const job = runner.jobs(podId!).find((j) => /debug_launch_[0-9a-f]{16}\.py train\.py/.test(j.info.command));
    assert.ok(
      job,
      `the debug job is under the rental: ${runner
        .jobs(podId!)
        .map((j) => j.info.command)
        .join(' | ')}`,
    );
    assert.equal(job.info.status.state, 'running');
    await vscode.debug.stopDebugging(session);
    await terminated;
    await waitUntil(
      () => runner.get(podId!, job.info.id)?.info.status.state !== 'running',
      60_000,
      'the debug job to end with the session',
    );
  });

  it('Attach Debugger on a running job that called debugpy.listen() stops at its breakpoint; detaching lets it finish', async function () {
    this.timeout(180_000);
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the sample project is open');
    const file = vscode.Uri.joinPath(folder.uri, 'serve_debug.py');
    const source = [
      'import debugpy, socket',
      's = socket.socket()',
      's.bind(("127.0.0.1", 0))',
      'free = s.getsockname()[1]',
      's.close()',
      'host, port = debugpy.listen(("127.0.0.1", free))',
      'print("kgpu-port", port, flush=True)',
      'debugpy.wait_for_client()',
      'value = 41',
      'value += 1',
      'print("value", value, flush=True)',
      '',
    ].join('\n');
    await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(source));
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, noPrompt: true });
    assert.ok(run, 'the job runs');
    const portOf = (): number => Number(/kgpu-port (\d+)/.exec(run.text())?.[1] ?? 0);
    await waitUntil(() => portOf() > 0, 60_000, 'the port debugpy listens on');
    const port = portOf();
    vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(new vscode.Location(file, new vscode.Position(9, 0)))]);
    const stopped = new Promise<vscode.DebugStackFrame>((resolve) => {
      const sub = vscode.debug.onDidChangeActiveStackItem((item) => {
        if (item instanceof vscode.DebugStackFrame) {
          sub.dispose();
          resolve(item);
        }
      });
    });
    const session = await vscode.commands.executeCommand<vscode.DebugSession | undefined>('kgpu.attachDebugger', {
      kind: 'job',
      podId,
      jobId: run.jobId,
    });
    assert.ok(session, 'the command starts an attach session');
    assert.equal(session.configuration.request, 'attach');
    assert.equal(session.configuration.port, port, "the command found the job's debugpy port by itself");
    const frame = await stopped;
    const { stackFrames } = await session.customRequest('stackTrace', { threadId: frame.threadId, startFrame: 0, levels: 1 });
    assert.equal(stackFrames[0].line, 10);
    const framePath = String(stackFrames[0].source.path);
    assert.equal(framePath.includes('://') ? vscode.Uri.parse(framePath).fsPath : framePath, file.fsPath, 'the frame is the local file');
    const ev = await session.customRequest('evaluate', { expression: 'value', frameId: stackFrames[0].id, context: 'repl' });
    assert.equal(ev.result, '41');
    vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
    await vscode.debug.stopDebugging(session);
    assert.deepEqual(await run.done, { state: 'exited', exitCode: 0 }, 'detaching lets the job go on to its end');
    assert.match(run.text(), /value 42/);
  });
});

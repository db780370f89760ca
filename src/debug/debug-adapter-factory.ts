import * as path from 'node:path';
import * as vscode from 'vscode';
import { startDebugJob, startPodDebug, type DapBridge, type PodDebugSession } from '../kgpu/debug';
import { resolveLauncher, type Launcher, type LauncherChoice } from '../kgpu/launch/torchrun';
import type { RunTarget } from '../kgpu/jobs/job-runner';
import type { KgpuServices } from '../platform/services';
import { podFilePython } from '../platform/pod-target-python';
import { programUri, type KgpuDebugConfiguration } from './debug-configuration';

/**
 * The `kgpu` debug adapter: an inline adapter (no process on this machine) bridging VS Code's
 * DAP messages to debugpy in the pod over a pod agent stream (src/kgpu/debug/). Creating it does
 * Run's sync first (with progress; cancellable), so a restart syncs again.
 */
export class KgpuDebugAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly services: KgpuServices) {}

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const c = session.configuration as KgpuDebugConfiguration;
    const podId = c.pod;
    if (!podId) throw new Error('kgpu: the debug configuration has no pod (it was not resolved).');
    const started = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('kgpu: starting the debugger on {0}', podId),
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        try {
          return await this.start(session, c, podId, abort.signal, (m) => progress.report({ message: m }));
        } catch (e) {
          if (abort.signal.aborted) throw new Error('kgpu: debugging cancelled.', { cause: e });
          throw new Error(`kgpu: could not start the debugger on ${podId}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      },
    );
    const bridge = started.bridge;
    bridge.onDidEnd(({ message }) => {
      if (message) void vscode.window.showWarningMessage(message);
    });
    if (started.plan) this.services.log.info(`Debug ${started.remoteProgram} on ${podId} (session ${session.id}).`);
    return new vscode.DebugAdapterInlineImplementation(new InlineAdapter(bridge));
  }

  private async start(
    session: vscode.DebugSession,
    c: KgpuDebugConfiguration,
    podId: string,
    signal: AbortSignal,
    report: (m: string) => void,
  ): Promise<PodDebugSession> {
    const settings = this.services.settings.get();
    const agent = this.services.connections.session(podId).agent;
    const folder =
      session.workspaceFolder?.uri.scheme === 'file'
        ? session.workspaceFolder.uri.fsPath
        : vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;
    if (c.request === 'attach') {
      report(`connecting to port ${c.port}…`);
      return startPodDebug({
        request: 'attach',
        podId,
        agent,
        python: settings.python,
        port: Number(c.port),
        justMyCode: c.justMyCode,
        localRoot: folder,
        remoteRoot: folder ? `/workspace/${path.basename(folder)}` : undefined,
        signal,
      });
    }
    const uri = programUri(c.program ?? '');
    let target: RunTarget;
    let python = settings.python;
    if (uri.scheme === 'kgpu') {
      target = { kind: 'pod', path: uri.path };
      // The project's requirements beside the file in the pod: installed once, then reused.
      python = await podFilePython(this.services, this.services.connections.session(podId).commands, uri.path, { signal, report });
    } else {
      const ws = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath;
      target = ws
        ? { kind: 'local', folder: ws, file: uri.fsPath }
        : { kind: 'local', folder: path.dirname(uri.fsPath), file: uri.fsPath, onlyThisFile: true };
      report('syncing changed files…');
    }
    const podSession = this.services.connections.session(podId);
    await podSession.connector(); // connect (asking for a passphrase) before the sync's progress
    const env = {
      ...settings.env,
      ...Object.fromEntries(Object.entries(c.env ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string')),
    };
    // As a job, the way Run runs it (src/kgpu/debug/debug-job.ts): the project's environment, the
    // launcher (torchrun: debugpy in rank 0), the job under the rental.
    return startDebugJob({
      podId,
      agent,
      runner: this.services.jobs.runner,
      pod: podSession.commands,
      target,
      python,
      args: c.args ?? [],
      env,
      exclude: settings.syncExclude,
      launcher: debugLauncher(this.services, c, uri),
      onDisconnect: c.onDisconnect === 'keepRunning' ? 'keepRunning' : 'stop',
      justMyCode: c.justMyCode,
      stopOnEntry: c.stopOnEntry,
      signal,
      onSyncProgress: (p) =>
        report(
          p.phase === 'uploading'
            ? vscode.l10n.t('syncing {0}/{1} changed files…', p.files, p.totalFiles)
            : vscode.l10n.t('syncing ({0})…', p.phase),
        ),
      onDepsOutput: (line) => report(vscode.l10n.t("installing the project's dependencies: {0}", line.slice(0, 120))),
    });
  }
}

/** Run's remembered per-file launcher choice (src/jobs/launcher-choice.ts keeps it under this key). */
const RUN_LAUNCHER_KEY = 'kgpu.runLauncher';

/**
 * The launcher a debug launch uses: the configuration's `launcher`, else what Run uses for this file
 * on this pod (kgpu.launcher, the file's remembered choice; one process when Run never asked).
 * Under torchrun debugpy runs in rank 0 and the debugger attaches there; the other ranks run plainly.
 */
function debugLauncher(services: KgpuServices, c: KgpuDebugConfiguration, uri: vscode.Uri): Launcher {
  const n = Math.max(1, services.pods.get(c.pod ?? '')?.gpu_count ?? 1);
  if (c.launcher === 'torchrun') return { kind: 'torchrun', nprocPerNode: n };
  if (c.launcher === 'python') return { kind: 'python' };
  const remembered = services.context.workspaceState.get<Record<string, LauncherChoice>>(RUN_LAUNCHER_KEY)?.[uri.toString()];
  return resolveLauncher(services.settings.get().launcher, n, remembered) ?? { kind: 'python' };
}

/** VS Code's DebugAdapter over the bridge (the bridge's event has vscode.Event's shape). */
class InlineAdapter implements vscode.DebugAdapter {
  readonly onDidSendMessage: vscode.Event<vscode.DebugProtocolMessage>;

  constructor(private readonly bridge: DapBridge) {
    this.onDidSendMessage = bridge.onDidSendMessage as unknown as vscode.Event<vscode.DebugProtocolMessage>;
  }

  handleMessage(message: vscode.DebugProtocolMessage): void {
    this.bridge.handleMessage(message as Parameters<DapBridge['handleMessage']>[0]);
  }

  dispose(): void {
    this.bridge.dispose();
  }
}

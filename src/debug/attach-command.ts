import * as vscode from 'vscode';
import { findDebugPorts } from '../kgpu/debug';
import type { KgpuServices } from '../platform/services';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import { DEBUG_TYPE, type KgpuDebugConfiguration } from './debug-configuration';
import { startKgpuDebugging } from './start-session';

export const DEFAULT_DEBUGPY_PORT = 5678;

/**
 * `kgpu: Attach Debugger…` on a running job (its row in the Rentals view, or the palette): attaches
 * VS Code's debugger to a program of that pod that called `debugpy.listen(port)` — the same as the
 * launch.json configuration `{ "type": "kgpu", "request": "attach", "pod": …, "port": … }`.
 * Argument: a job row `{ podId, jobId }` (its pod), optionally with `port` (tests). The port is
 * found in the pod (the job's debugpy, see jobDebugPort) and asked for only when it is not (default 5678). Resolves with the started session (undefined when none started).
 */
export function registerAttachCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.attachDebugger', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt();
    try {
      return await attach(services, arg);
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not attach the debugger:') });
      return undefined;
    }
  });
}

/**
 * The port the job's debugpy listens on, found in the pod (src/kgpu/debug/debug-port.ts): the one
 * found, or the user's pick of several; undefined when none is found (then the port is asked for);
 * null when the pick was cancelled.
 */
async function jobDebugPort(services: KgpuServices, podId: string, jobId: string): Promise<number | undefined | null> {
  const ports = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: looking for the debugger port of job {0}…', jobId) },
    async () => {
      const session = services.connections.session(podId);
      await session.connector();
      return findDebugPorts(session.commands, jobId).catch((e: unknown) => {
        services.log.warn(`Attach: could not look for the debugger port of job ${jobId}: ${e instanceof Error ? e.message : String(e)}`);
        return [];
      });
    },
  );
  if (ports.length === 0) return undefined;
  if (ports.length === 1) return ports[0].port;
  const picked = await vscode.window.showQuickPick(
    ports.map((p) => ({
      label: String(p.port),
      description: p.rank !== undefined ? vscode.l10n.t('rank {0}, pid {1}', p.rank, p.pid) : vscode.l10n.t('pid {0}', p.pid),
      detail: p.inJob ? undefined : vscode.l10n.t('a debugpy.listen() in the pod, maybe not of this job'),
      port: p.port,
    })),
    { title: vscode.l10n.t('kgpu: Attach Debugger — debugpy listens on several ports') },
  );
  return picked ? picked.port : null;
}

async function attach(services: KgpuServices, arg: unknown): Promise<vscode.DebugSession | undefined> {
  const o = optionsOf(decodeCommandArgs(arg)) as { podId?: unknown; jobId?: unknown; port?: unknown };
  let port = typeof o.port === 'number' ? o.port : undefined;
  if (port === undefined && typeof o.podId === 'string' && typeof o.jobId === 'string') {
    const found = await jobDebugPort(services, o.podId, o.jobId);
    if (found === null) return undefined;
    port = found;
  }
  if (port === undefined) {
    const answer = await vscode.window.showInputBox({
      title: vscode.l10n.t('kgpu: Attach Debugger'),
      prompt: vscode.l10n.t('The port the program passed to debugpy.listen() in the pod'),
      value: String(DEFAULT_DEBUGPY_PORT),
      validateInput: (v) =>
        /^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : vscode.l10n.t('A TCP port number (1–65535)'),
    });
    if (answer === undefined) return undefined;
    port = Number(answer.trim());
  }
  const podId = typeof o.podId === 'string' && o.podId ? o.podId : undefined;
  const config: KgpuDebugConfiguration = {
    type: DEBUG_TYPE,
    request: 'attach',
    name:
      typeof o.jobId === 'string'
        ? vscode.l10n.t('kgpu: attach to port {0} (job {1})', port, o.jobId)
        : vscode.l10n.t('kgpu: attach to port {0}', port),
    port,
    ...(podId ? { pod: podId } : {}),
  };
  return startKgpuDebugging(
    vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file'),
    config,
  );
}

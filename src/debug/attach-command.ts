import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import { DEBUG_TYPE, type KgpuDebugConfiguration } from './debug-configuration';

export const DEFAULT_DEBUGPY_PORT = 5678;

/**
 * `kgpu: Attach Debugger…` on a running job (its row in the Rentals view, or the palette): attaches
 * VS Code's debugger to a program of that pod that called `debugpy.listen(port)` — the same as the
 * launch.json configuration `{ "type": "kgpu", "request": "attach", "pod": …, "port": … }`.
 * Argument: a job row `{ podId, jobId }` (its pod), optionally with `port` (tests); else the port
 * is asked for (default 5678). Resolves with the started session (undefined when none started).
 */
export function registerAttachCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.attachDebugger', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt();
    try {
      return await attach(arg);
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not attach the debugger:') });
      return undefined;
    }
  });
}

async function attach(arg: unknown): Promise<vscode.DebugSession | undefined> {
  const o = optionsOf(decodeCommandArgs(arg)) as { podId?: unknown; jobId?: unknown; port?: unknown };
  let port = typeof o.port === 'number' ? o.port : undefined;
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
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  let session: vscode.DebugSession | undefined;
  const sub = vscode.debug.onDidStartDebugSession((s) => {
    if (s.type === DEBUG_TYPE && s.name === config.name) session ??= s;
  });
  try {
    const ok = await vscode.debug.startDebugging(folder, config);
    return ok ? session : undefined;
  } finally {
    sub.dispose();
  }
}

import * as path from 'node:path';
import * as vscode from 'vscode';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import type { KgpuServices } from '../platform/services';
import { DEBUG_TYPE, type KgpuDebugConfiguration } from './debug-configuration';
import { startKgpuDebugging } from './start-session';

/**
 * `kgpu: Debug Active File on GPU` (editor title beside Run, ctrl+alt+shift+g, palette): starts a
 * `kgpu` launch session for the active (or given) Python file — the same as F5 with the
 * configuration `{ "type": "kgpu", "request": "launch", "program": "${file}" }`.
 * Argument (tests): `{ podId?, file?: Uri | string, args?: string[] }` or a Uri. Resolves with the
 * started session (undefined when it did not start).
 */
export function registerDebugCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.debugActiveFile', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt();
    try {
      return await debugActiveFile(arg);
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not debug the file:') });
      return undefined;
    }
  });
}

async function debugActiveFile(arg: unknown): Promise<vscode.DebugSession | undefined> {
  const decoded = decodeCommandArgs(arg);
  const o = optionsOf(decoded) as {
    podId?: string;
    file?: vscode.Uri | string;
    args?: string[];
  };
  const given = decoded.kind === 'uri' ? decoded.uri : o.file;
  const uri = given
    ? typeof given === 'string'
      ? given.includes('://')
        ? vscode.Uri.parse(given)
        : vscode.Uri.file(given)
      : given
    : vscode.window.activeTextEditor?.document.uri;
  if (!uri) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: open a Python file to debug it on a GPU.'));
    return undefined;
  }
  if (uri.scheme === 'untitled') {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: save the file first — an untitled editor cannot be synced to the pod.'));
    return undefined;
  }
  if (uri.scheme !== 'file' && uri.scheme !== 'kgpu') {
    void vscode.window.showErrorMessage(
      vscode.l10n.t('kgpu: cannot debug {0}: only local files and kgpu:// files can run on a pod.', uri.toString()),
    );
    return undefined;
  }
  const config: KgpuDebugConfiguration = {
    type: DEBUG_TYPE,
    request: 'launch',
    name: `kgpu: ${path.basename(uri.path)}`,
    program: uri.scheme === 'file' ? uri.fsPath : uri.toString(),
    args: o.args ?? [],
    ...(o.podId ? { pod: o.podId } : {}),
  };
  return startKgpuDebugging(vscode.workspace.getWorkspaceFolder(uri), config);
}

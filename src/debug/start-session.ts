import * as vscode from 'vscode';
import { DEBUG_TYPE, type KgpuDebugConfiguration } from './debug-configuration';

/**
 * Starts a `kgpu` debug session with `config` and resolves with the session that start created
 * (the first kgpu session of that name to start meanwhile), or undefined when it did not start.
 */
export async function startKgpuDebugging(
  folder: vscode.WorkspaceFolder | undefined,
  config: KgpuDebugConfiguration,
): Promise<vscode.DebugSession | undefined> {
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

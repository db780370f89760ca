// The extension under test, as VS Code sees it.
import * as vscode from 'vscode';

export const EXTENSION_ID = 'kgpu.kgpu';

export function kgpuExtension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded in this VS Code`);
  return ext;
}

/** Opens the kgpu view container (as clicking its Activity Bar icon does) and waits for activation. */
export async function openKgpuSidebar(timeoutMs = 15_000): Promise<vscode.Extension<unknown>> {
  await vscode.commands.executeCommand('workbench.view.extension.kgpu');
  const ext = kgpuExtension();
  await waitUntil(() => ext.isActive, timeoutMs, 'the kgpu extension to activate after opening its view');
  return ext;
}

/** Polls `condition` until it holds or `timeoutMs` passes (then throws naming `what`). */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

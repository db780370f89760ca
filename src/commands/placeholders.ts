import * as vscode from 'vscode';

/**
 * Commands declared in package.json whose feature has not landed yet. Each feature's module
 * registers its own commands; remove an id here when its module takes it over. The manifest
 * test checks that every declared command is registered by activate().
 */
const PENDING: string[] = [];

export function registerPendingCommands(): vscode.Disposable {
  return vscode.Disposable.from(
    ...PENDING.map((id) =>
      vscode.commands.registerCommand(id, () =>
        vscode.window.showInformationMessage(vscode.l10n.t('kgpu: "{0}" is not available in this build yet.', id)),
      ),
    ),
  );
}

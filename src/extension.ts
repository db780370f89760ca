import * as vscode from 'vscode';
import { registerPendingCommands } from './placeholders';

/** Composes the extension's contributions. Every contribution lives in its own module and
 *  returns a Disposable; nothing else happens here. */
export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(registerPendingCommands());
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

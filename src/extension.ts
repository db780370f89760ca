import * as vscode from 'vscode';
import { registerPendingCommands } from './placeholders';
import { createServices } from './services';

/** Composes the extension's contributions. Every contribution lives in its own module, takes the
 *  shared services and returns a Disposable; nothing else happens here. */
export function activate(context: vscode.ExtensionContext): void {
  const services = createServices(context);
  context.subscriptions.push(
    services,
    registerPendingCommands(),
  );
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

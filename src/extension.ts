import * as vscode from 'vscode';
import { registerAccountView } from './views/account-view';
import { registerContextKeys } from './platform/context-keys';
import { registerFileSystem } from './files/file-system';
import { registerGpuModelsView } from './views/gpu-models-view';
import { registerHostKeyCommand } from './platform/host-key-command';
import { registerLazyContributions } from './lazy-contributions';
import { registerLivePodContributions } from './live-pod-contributions';
import { registerNotebooks } from './notebook/notebook-controllers';
import { registerTracebackLinks } from './links/traceback-link-provider';
import { registerPendingCommands } from './commands/placeholders';
import { registerPodNotifications } from './platform/pod-notifications';
import { registerRefresh } from './platform/refresh';
import { registerRentalsView } from './views/rentals-view';
import { registerDebug } from './debug';
import { createServices, type KgpuServices } from './platform/services';
import { registerStatusBar } from './views/status-bar';
import { registerSweeps } from './sweeps';
import { registerTelemetry } from './telemetry/register-telemetry';
import { registerTasks } from './tasks/kgpu-task-provider';
import { registerDeepLinks } from './uri/deep-link-handler';
import { registerWalkthrough } from './walkthrough/walkthrough';

/** Composes the extension's contributions. Every contribution lives in its own module, takes the
 *  shared services and returns a Disposable; nothing else happens here. Activation runs at startup
 *  (onStartupFinished): what is only commands is loaded on first use (lazy-contributions.ts), what only
 *  matters while a pod lives when the first live pod appears (live-pod-contributions.ts). The services are the
 *  extension's exports, for the tests in a real VS Code (test/e2e/suite). */
export function activate(context: vscode.ExtensionContext): KgpuServices {
  const services = createServices(context);
  context.subscriptions.push(
    services,
    registerContextKeys(services),
    registerRefresh(services),
    registerLazyContributions(services),
    registerAccountView(services),
    registerGpuModelsView(services),
    registerRentalsView(services),
    registerStatusBar(services),
    registerPodNotifications(services),
    registerHostKeyCommand(services),
    registerFileSystem(services),
    registerDebug(services),
    registerSweeps(services),
    registerTracebackLinks(services),
    registerTasks(services),
    registerDeepLinks(services),
    registerWalkthrough(services),
    registerNotebooks(services),
    registerTelemetry(services),
    registerLivePodContributions(services),
    registerPendingCommands(),
  );
  return services;
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

import * as vscode from 'vscode';
import { registerAccountView } from './views/account-view';
import { registerAuth } from './commands/auth-commands';
import { registerContextKeys } from './platform/context-keys';
import { registerCopyCommands } from './commands/copy-commands';
import { registerExecCommand } from './commands/exec-command';
import { registerFileSystem } from './files/file-system';
import { registerGpuModelsView } from './views/gpu-models-view';
import { registerHostKeyCommand } from './platform/host-key-command';
import { registerJobLogCommands } from './platform/job-log-terminal';
import { registerJobs } from './jobs/jobs-view';
import { registerRankFilterCommand } from './jobs/rank-filter-command';
import { registerNotebooks } from './notebook/notebook-controllers';
import { registerTracebackLinks } from './links/traceback-link-provider';
import { registerPendingCommands } from './commands/placeholders';
import { registerPodNotifications } from './platform/pod-notifications';
import { registerPorts } from './ports/port-commands';
import { registerRefresh } from './platform/refresh';
import { registerReleaseCommand } from './commands/release-command';
import { registerRentCommand } from './commands/rent-command';
import { registerRentalsView } from './views/rentals-view';
import { registerRotateKeyCommand } from './commands/rotate-key-command';
import { registerRunCommand } from './jobs/run-command';
import { registerDebug } from './debug';
import { createServices, type KgpuServices } from './platform/services';
import { registerStatusBar } from './views/status-bar';
import { registerSweeps } from './sweeps';
import { registerTelemetry } from './telemetry/register-telemetry';
import { registerTasks } from './tasks/kgpu-task-provider';
import { registerTerminal } from './commands/terminal';
import { registerDeepLinks } from './uri/deep-link-handler';
import { registerWalkthrough } from './walkthrough/walkthrough';

/** Composes the extension's contributions. Every contribution lives in its own module, takes the
 *  shared services and returns a Disposable; nothing else happens here. The services are the
 *  extension's exports, for the tests in a real VS Code (test/e2e/suite). */
export function activate(context: vscode.ExtensionContext): KgpuServices {
  const services = createServices(context);
  context.subscriptions.push(
    services,
    registerContextKeys(services),
    registerAuth(services),
    registerRefresh(services),
    registerAccountView(services),
    registerGpuModelsView(services),
    registerRentalsView(services),
    registerStatusBar(services),
    registerPodNotifications(services),
    registerRentCommand(services),
    registerReleaseCommand(services),
    registerRotateKeyCommand(services),
    registerHostKeyCommand(services),
    registerCopyCommands(services),
    registerFileSystem(services),
    registerRunCommand(services),
    registerDebug(services),
    registerJobLogCommands(services),
    registerRankFilterCommand(),
    registerSweeps(services),
    registerTracebackLinks(services),
    registerJobs(services),
    registerTerminal(services),
    registerTasks(services),
    registerDeepLinks(services),
    registerWalkthrough(services),
    registerExecCommand(services),
    registerNotebooks(services),
    registerPorts(services),
    registerTelemetry(services),
    registerPendingCommands(),
  );
  return services;
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

import * as vscode from 'vscode';
import { podTargetPython } from '../kgpu/deps/pod-target';
import type { PodCommands } from '../kgpu/ssh/pod-commands';
import type { KgpuServices } from './services';

/**
 * The interpreter for Run / Debug / Notebook on a file that lives only in the pod (kgpu://): its
 * project's environment (the dependency files beside it in the pod, installed once and reused
 * while they are unchanged — src/kgpu/deps/pod-target.ts), else kgpu.python; kgpu.python as it is
 * with kgpu.installDependencies off. `report` gets the progress and the installer's output; a
 * failed install rejects with DepsInstallError (the installer's error).
 */
export async function podFilePython(
  services: KgpuServices,
  pod: PodCommands,
  podPath: string,
  options: { signal?: AbortSignal; report?: (message: string) => void } = {},
): Promise<string> {
  const settings = services.settings.get();
  if (settings.installDependencies === 'off') return settings.python;
  options.report?.(vscode.l10n.t("checking the project's dependencies in the pod…"));
  const r = await podTargetPython(
    pod,
    { file: podPath, python: settings.python },
    {
      signal: options.signal,
      env: settings.env,
      onOutput: (line) => {
        services.log.info(`Dependencies of ${podPath}: ${line}`);
        options.report?.(vscode.l10n.t("installing the project's dependencies: {0}", line.slice(0, 120)));
      },
    },
  );
  if (r.deps)
    services.log.info(
      `${podPath}: ${r.deps.state === 'installed' ? 'installed' : 'using'} the dependencies of ${r.deps.projectDir} in ${r.deps.venvDir}.`,
    );
  return r.python;
}

/** podFilePython in a cancellable progress notification, for Run; undefined when it was cancelled
 *  or the install failed (the installer's error shown). */
export async function podFilePythonWithProgress(services: KgpuServices, podId: string, podPath: string): Promise<string | undefined> {
  if (services.settings.get().installDependencies === 'off') return services.settings.get().python;
  return vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: vscode.l10n.t('kgpu: preparing to run {0}', podPath.slice(podPath.lastIndexOf('/') + 1)),
      cancellable: true,
    },
    async (progress, token) => {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      try {
        return await podFilePython(services, services.connections.session(podId).commands, podPath, {
          signal: abort.signal,
          report: (message) => progress.report({ message }),
        });
      } catch (e) {
        if (!abort.signal.aborted) services.showError(e);
        return undefined;
      } finally {
        sub.dispose();
      }
    },
  );
}

import * as vscode from 'vscode';
import type { Pod } from '../kgpu/api/api-types';
import type { KgpuServices } from '../platform/services';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';

/**
 * `kgpu: Open Workspace` — the pod's /workspace as a workspace folder named after the pod
 * (added to this window) or in a new window; the user chooses unless `mode` is given.
 * Options (tests, other commands): `{ podId, mode: 'add' | 'newWindow', path }`.
 */
export interface OpenWorkspaceOptions {
  podId?: string;
  mode?: 'add' | 'newWindow';
  /** Folder in the pod (default /workspace). */
  path?: string;
}

export function workspaceFolderName(pod: Pick<Pod, 'pod_id' | 'name'>): string {
  return pod.name && pod.name !== 'rent' ? `${pod.name} (${pod.pod_id})` : pod.pod_id;
}

/** The command's options object when it is one (names `mode` or `path`; a rental row is not). */
function workspaceOptions(arg: unknown): OpenWorkspaceOptions | undefined {
  const o = optionsOf(decodeCommandArgs(arg));
  return ('mode' in o || 'path' in o) && !('pod' in o) ? (o as OpenWorkspaceOptions) : undefined;
}

export function registerWorkspaceCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.openWorkspace', async (arg?: unknown, second?: unknown): Promise<vscode.Uri | undefined> => {
    services.podKeys.allowPassphrasePrompt(); // the user asked: a cancelled passphrase may be asked for again
    const given = workspaceOptions(arg);
    const options: OpenWorkspaceOptions = given ?? workspaceOptions(second) ?? {};
    const pod = await services.pickPod(options.podId ?? (given ? undefined : arg), {
      ready: true,
      title: vscode.l10n.t("Open which pod's /workspace?"),
    });
    if (!pod) return undefined;
    const uri = vscode.Uri.from({ scheme: 'kgpu', authority: pod.pod_id, path: options.path ?? '/workspace' });
    const open = vscode.workspace.workspaceFolders?.find((f) => f.uri.toString() === uri.toString());
    if (open) {
      await vscode.commands.executeCommand('workbench.view.explorer');
      return uri;
    }
    let mode = options.mode;
    if (!mode) {
      const ADD = vscode.l10n.t('Add to Workspace');
      const NEW_WINDOW = vscode.l10n.t('Open in New Window');
      const choice = await vscode.window.showInformationMessage(
        vscode.l10n.t('Open {0} of {1}?', uri.path, pod.pod_id),
        { modal: true, detail: vscode.l10n.t('Files are edited in the pod over SSH; the pod disk is destroyed when the rental ends.') },
        ADD,
        NEW_WINDOW,
      );
      if (!choice) return undefined;
      mode = choice === ADD ? 'add' : 'newWindow';
    }
    if (mode === 'newWindow') {
      await vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: true });
      return uri;
    }
    const at = vscode.workspace.workspaceFolders?.length ?? 0;
    const ok = vscode.workspace.updateWorkspaceFolders(at, 0, { uri, name: workspaceFolderName(pod) });
    if (!ok) {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('Could not add {0} of {1} to the workspace; try "Open in New Window".', uri.path, pod.pod_id),
      );
      return undefined;
    }
    await vscode.commands.executeCommand('workbench.view.explorer');
    return uri;
  });
}

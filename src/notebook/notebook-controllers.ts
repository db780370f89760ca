import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { notebookStatusView, type NotebookKernelState } from '../kgpu/notebook/kernel-status';
import type { KgpuServices } from '../platform/services';
import { telemetryFor } from '../platform/telemetry-hub';
import type { NotebookKernel } from './notebook-kernel';

const NOTEBOOK_TYPE = 'jupyter-notebook';
export const RENT_CONTROLLER_ID = 'kgpu-rent';

/** The controller id of a pod's kernel ("kgpu-<pod id>"). */
export const controllerIdFor = (podId: string): string => `kgpu-${podId}`;

/** The kernel (notebook-kernel.ts and src/kgpu/notebook/ under it), loaded when a notebook first
 *  chooses a kgpu kernel: the controllers are registered at activation, which runs at startup (issue 24). */
function notebookKernel(): typeof import('./notebook-kernel') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('./notebook-kernel') as typeof import('./notebook-kernel');
}

/**
 * Notebook kernels on rented GPUs: a NotebookController per ready rental ("kgpu · rtx4090 ·
 * my-pod") and one "Rent a GPU…". Choosing a pod's controller for a notebook syncs the notebook's
 * folder and starts (or finds) its IPython kernel in the pod; the kernel lives on in the pod when
 * the notebook closes, the window reloads or the connection drops, and is found again by the
 * notebook's path. Commands: restart, interrupt, shut down; the kernel's state and the pod's live
 * GPU numbers in the status bar while the active notebook editor uses a kgpu kernel (the pod then
 * counts as in use for its telemetry; kernel-status.ts).
 */
export function registerNotebooks(services: KgpuServices): vscode.Disposable {
  const controllers = new Map<string, vscode.NotebookController>();
  /** notebook uri → its kernel (with the pod it runs on). */
  const kernels = new Map<string, NotebookKernel>();
  const status = vscode.window.createStatusBarItem('kgpu.notebookKernel', vscode.StatusBarAlignment.Right, 90);
  status.name = vscode.l10n.t('kgpu notebook kernel');
  const disposables: vscode.Disposable[] = [status];

  const kernelFor = (notebook: vscode.NotebookDocument, pod: Pod, controller: vscode.NotebookController): NotebookKernel => {
    const key = notebook.uri.toString();
    let k = kernels.get(key);
    if (k && (k.pod.pod_id !== pod.pod_id || k.controller !== controller)) {
      k.dispose();
      k = undefined;
    }
    if (!k) {
      k = new (notebookKernel().NotebookKernel)(services, controller, notebook, pod);
      k.onDidChangeStatus(() => updateStatus());
      kernels.set(key, k);
    }
    return k;
  };

  const telemetry = telemetryFor(services);
  /** The telemetry hold of the active notebook's pod (the status item shows its numbers). */
  let held: { podId: string; hold?: vscode.Disposable } | undefined;
  const hold = (podId: string | undefined): void => {
    if (held?.podId === podId) return;
    const old = held;
    held = podId ? { podId } : undefined;
    // Set before taking the hold: the hub's update may fire onDidChange, and so updateStatus, at once.
    if (held && podId) held.hold = telemetry.hold(podId);
    old?.hold?.dispose();
  };
  const updateStatus = (): void => {
    const nb = vscode.window.activeNotebookEditor?.notebook;
    const k = nb ? kernels.get(nb.uri.toString()) : undefined;
    if (!k) {
      hold(undefined);
      return status.hide();
    }
    const view = notebookStatusView({ status: k.status, gpuModel: k.pod.gpu_model, gpu: telemetry.summary(k.pod.pod_id) });
    hold(view.state === 'dead' || view.state === 'shut down' || view.state === 'pod ended' ? undefined : k.pod.pod_id);
    const state = stateLabel(view.state);
    status.text = view.text(state);
    const tooltip = new vscode.MarkdownString(
      [
        vscode.l10n.t('kgpu notebook kernel on {0} ({1}): {2}', k.pod.name, k.pod.pod_id, state),
        ...telemetry.lines(k.pod.pod_id),
        vscode.l10n.t('Click for the kernel actions.'),
      ].join('  \n'),
    );
    status.tooltip = tooltip;
    status.backgroundColor = view.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    status.command = 'kgpu._notebookKernelMenu';
    status.show();
  };

  const makeController = (pod: Pod): vscode.NotebookController => {
    const c = vscode.notebooks.createNotebookController(
      controllerIdFor(pod.pod_id),
      NOTEBOOK_TYPE,
      `kgpu · ${pod.gpu_model} · ${pod.name}`,
    );
    c.supportedLanguages = ['python'];
    c.supportsExecutionOrder = true;
    c.description = `${pod.gpu_count} × ${pod.gpu_model}`;
    c.detail = vscode.l10n.t('IPython in the pod {0}; it keeps running when the connection drops', pod.pod_id);
    c.executeHandler = async (cells, notebook) => {
      const current = services.pods.get(pod.pod_id) ?? pod;
      await kernelFor(notebook, current, c).execute(cells);
    };
    c.interruptHandler = (notebook) => kernels.get(notebook.uri.toString())?.interrupt();
    c.onDidChangeSelectedNotebooks(({ notebook, selected }) => {
      if (selected) {
        const k = kernelFor(notebook, services.pods.get(pod.pod_id) ?? pod, c);
        k.connect().then(updateStatus, (e: unknown) =>
          services.showError(e, { prefix: vscode.l10n.t('kgpu: the notebook kernel could not start:') }),
        );
      } else {
        const k = kernels.get(notebook.uri.toString());
        if (k?.controller === c) {
          k.dispose();
          kernels.delete(notebook.uri.toString());
        }
      }
      updateStatus();
    });
    return c;
  };

  const rent = vscode.notebooks.createNotebookController(RENT_CONTROLLER_ID, NOTEBOOK_TYPE, vscode.l10n.t('kgpu · Rent a GPU…'));
  rent.supportedLanguages = ['python'];
  rent.description = vscode.l10n.t('rent a GPU, then run this notebook on it');
  let offering = false;
  const offerRent = async (notebook: vscode.NotebookDocument): Promise<void> => {
    if (offering) return;
    offering = true;
    try {
      const RENT = vscode.l10n.t('Rent a GPU…');
      const a = await vscode.window.showInformationMessage(
        vscode.l10n.t('kgpu: rent a GPU for this notebook? Its kernel is chosen for you once the pod is ready.'),
        RENT,
      );
      if (a !== RENT) return;
      const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent');
      if (!podId) return;
      await services.pods.refresh();
      const c = controllers.get(podId);
      if (!c) {
        void vscode.window.showInformationMessage(
          vscode.l10n.t('kgpu: once {0} is ready, choose its kgpu kernel for this notebook.', services.pods.get(podId)?.name ?? podId),
        );
        return;
      }
      c.updateNotebookAffinity(notebook, vscode.NotebookControllerAffinity.Preferred);
      if (vscode.window.activeNotebookEditor?.notebook === notebook) {
        await vscode.commands.executeCommand('notebook.selectKernel', { id: c.id, extension: services.context.extension.id });
      }
    } finally {
      offering = false;
    }
  };
  rent.executeHandler = async (_cells, notebook) => offerRent(notebook);
  rent.onDidChangeSelectedNotebooks(({ notebook, selected }) => {
    if (selected) void offerRent(notebook);
  });
  disposables.push(rent);

  const sync = (): void => {
    const ready = new Map(services.pods.pods.filter((p) => isLivePod(p) && p.ready).map((p) => [p.pod_id, p]));
    for (const [podId, c] of controllers) {
      if (!ready.has(podId)) {
        c.dispose();
        controllers.delete(podId);
      }
    }
    for (const [podId, pod] of ready) if (!controllers.has(podId)) controllers.set(podId, makeController(pod));
  };
  sync();

  const active = (): NotebookKernel | undefined => {
    const nb = vscode.window.activeNotebookEditor?.notebook;
    const k = nb ? kernels.get(nb.uri.toString()) : undefined;
    if (!k) void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: the active notebook does not use a kgpu kernel.'));
    return k;
  };

  disposables.push(
    services.pods.onDidChange(sync),
    services.pods.onDidEndPod((e) => {
      for (const [key, k] of kernels) {
        if (k.pod.pod_id !== e.pod.pod_id) continue;
        k.podEnded(e.endReason);
        k.dispose();
        kernels.delete(key);
      }
      updateStatus();
    }),
    vscode.workspace.onDidCloseNotebookDocument((nb) => {
      // The kernel stays in the pod (reopening the notebook reattaches); only the session ends.
      kernels.get(nb.uri.toString())?.dispose();
      kernels.delete(nb.uri.toString());
      updateStatus();
    }),
    vscode.window.onDidChangeActiveNotebookEditor(updateStatus),
    telemetry.onDidChange((podId) => {
      if (podId === held?.podId) updateStatus();
    }),
    { dispose: () => hold(undefined) },
    vscode.commands.registerCommand('kgpu._notebookKernelMenu', async () => {
      const actions = [
        { label: `$(debug-restart) ${vscode.l10n.t('Restart the kernel')}`, command: 'kgpu.notebook.restartKernel' },
        { label: `$(debug-pause) ${vscode.l10n.t('Interrupt the kernel')}`, command: 'kgpu.notebook.interruptKernel' },
        { label: `$(debug-stop) ${vscode.l10n.t('Shut the kernel down')}`, command: 'kgpu.notebook.shutdownKernel' },
      ];
      const pick = await vscode.window.showQuickPick(actions, { title: vscode.l10n.t('kgpu notebook kernel') });
      if (pick) await vscode.commands.executeCommand(pick.command);
    }),
    // Tests and diagnostics (not in the palette): the notebook kernel's status item as shown.
    vscode.commands.registerCommand('kgpu._notebookStatus', () => ({
      visible: vscode.window.activeNotebookEditor ? kernels.has(vscode.window.activeNotebookEditor.notebook.uri.toString()) : false,
      text: status.text,
      tooltip: status.tooltip instanceof vscode.MarkdownString ? status.tooltip.value : status.tooltip,
    })),
    vscode.commands.registerCommand('kgpu.notebook.restartKernel', async () => {
      try {
        await active()?.restart();
      } catch (e) {
        services.showError(e, { prefix: vscode.l10n.t('Could not restart the notebook kernel:') });
      }
    }),
    vscode.commands.registerCommand('kgpu.notebook.interruptKernel', () => active()?.interrupt()),
    vscode.commands.registerCommand('kgpu.notebook.shutdownKernel', async () => {
      const k = active();
      if (!k) return;
      k.shutdown();
    }),
  );

  return new vscode.Disposable(() => {
    for (const k of kernels.values()) k.dispose();
    kernels.clear();
    for (const c of controllers.values()) c.dispose();
    controllers.clear();
    for (const d of disposables) {
      try {
        d.dispose();
      } catch (e) {
        services.log.warn(`Notebook: ${errorMessage(e)}`);
      }
    }
  });
}

/** The kernel's state in the status bar, localised. */
function stateLabel(state: NotebookKernelState): string {
  switch (state) {
    case 'starting':
      return vscode.l10n.t('starting');
    case 'idle':
      return vscode.l10n.t('idle');
    case 'busy':
      return vscode.l10n.t('busy');
    case 'reconnecting':
      return vscode.l10n.t('reconnecting');
    case 'disconnected':
      return vscode.l10n.t('disconnected');
    case 'dead':
      return vscode.l10n.t('dead');
    case 'shut down':
      return vscode.l10n.t('shut down');
    case 'pod ended':
      return vscode.l10n.t('pod ended');
  }
}

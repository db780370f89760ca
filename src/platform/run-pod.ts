import * as path from 'node:path';
import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import { podDescription } from '../kgpu/model/rentals-view-model';
import { podIdFromArg } from './pick-pod';
import type { KgpuServices } from './services';
import { isStarting, startingPodItem, startingPods, waitForStartingPod } from './starting-pod';

/** The workspace's remembered pod for Run and Debug (one choice for both). */
const POD_KEY = 'kgpu.runPod';

/**
 * The pod a file runs or is debugged on — one choice for Run and Debug, so both behave alike:
 * the pod a kgpu:// file lives on; else the rental the command was invoked on; else the pod
 * chosen for this workspace (remembered); else a QuickPick of ready pods, pods still starting
 * ("starting… — run when ready": the command waits for it in a cancellable progress) and
 * "Rent a new GPU…". Undefined when cancelled (or said why not).
 *
 * `verb` names the action in titles and progress ("Run", "Debug").
 */
export async function choosePodToRun(
  services: KgpuServices,
  fileUri: vscode.Uri | undefined,
  podArg: unknown,
  verb: string,
): Promise<Pod | undefined> {
  const name = fileUri ? path.basename(fileUri.path) : undefined;
  const t = phrases(verb, name);
  const what = t.what;
  if (fileUri?.scheme === 'kgpu') return services.pickPod(fileUri, { ready: true });
  if (podArg) {
    const asked = services.pods.get(podIdFromArg(podArg) ?? '');
    const pod = isStarting(asked) ? await waitForStartingPod(services, asked, what) : await services.pickPod(podArg, { ready: true });
    if (pod) await services.context.workspaceState.update(POD_KEY, pod.pod_id);
    return pod;
  }
  const remembered = services.context.workspaceState.get<string>(POD_KEY);
  const known = remembered ? services.pods.get(remembered) : undefined;
  if (known && isLivePod(known) && known.ready) return known;
  const ready = services.pods.pods.filter((p) => isLivePod(p) && p.ready);
  const starting = startingPods(services);
  const RENT = `$(add) ${vscode.l10n.t('Rent a new GPU…')}`;
  const picked = await vscode.window.showQuickPick(
    [
      ...ready.map((p) => ({
        label: `$(vm-running) ${p.name}`,
        description: podDescription(p, Date.now()),
        detail: p.pod_id,
        pod: p as Pod | undefined,
      })),
      ...starting.map((p) => ({ ...startingPodItem(p), pod: p as Pod | undefined })),
      { label: RENT, description: t.rentThere, pod: undefined },
    ],
    {
      title: t.title,
      placeHolder: ready.length
        ? vscode.l10n.t('The choice is remembered for this workspace')
        : starting.length
          ? t.stillStarting
          : vscode.l10n.t('You have no ready pod'),
    },
  );
  if (!picked) return undefined;
  let pod = picked.pod;
  if (isStarting(pod)) pod = await waitForStartingPod(services, pod, what);
  if (picked.pod && !pod) return undefined;
  if (!pod) {
    const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent');
    if (!podId) return undefined;
    await services.pods.refresh();
    pod = services.pods.get(podId);
    if (isStarting(pod)) pod = await waitForStartingPod(services, pod, what);
    if (!pod || !pod.ready) {
      void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: the new pod is not ready yet; {0} again once it is.', what));
      return undefined;
    }
  }
  await services.context.workspaceState.update(POD_KEY, pod.pod_id);
  return pod;
}

/** The sentences that name the action, each translated whole ("Run", "Debug", "Attach"; anything else reads as Run). */
function phrases(verb: string, name: string | undefined): { what: string; title: string; rentThere: string; stillStarting: string } {
  if (verb === 'Debug')
    return {
      what: name ? vscode.l10n.t('debug {0}', name) : vscode.l10n.t('debug'),
      title: name ? vscode.l10n.t('Debug {0} on which GPU?', name) : vscode.l10n.t('Debug on which GPU?'),
      rentThere: vscode.l10n.t('start a new rental and debug there'),
      stillStarting: vscode.l10n.t('Your rental is still starting: pick it to debug as soon as it is ready'),
    };
  if (verb === 'Attach')
    return {
      what: name ? vscode.l10n.t('attach {0}', name) : vscode.l10n.t('attach'),
      title: name ? vscode.l10n.t('Attach {0} on which GPU?', name) : vscode.l10n.t('Attach on which GPU?'),
      rentThere: vscode.l10n.t('start a new rental and attach there'),
      stillStarting: vscode.l10n.t('Your rental is still starting: pick it to attach as soon as it is ready'),
    };
  return {
    what: name ? vscode.l10n.t('run {0}', name) : vscode.l10n.t('run'),
    title: name ? vscode.l10n.t('Run {0} on which GPU?', name) : vscode.l10n.t('Run on which GPU?'),
    rentThere: vscode.l10n.t('start a new rental and run there'),
    stillStarting: vscode.l10n.t('Your rental is still starting: pick it to run as soon as it is ready'),
  };
}

import * as vscode from 'vscode';
import { isAbortError } from '../kgpu/api/api-error';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import { PodEndedError } from '../kgpu/api/wait-ready';
import type { KgpuServices } from '../platform/services';

/**
 * Run while a rental is still starting: the pod choice offers the starting pod
 * ("rtx3090 · starting… — run when ready") and the run waits for it in a cancellable progress
 * notification, then goes on. A pod whose rent progress is already polling it is followed through
 * the model (no second poller: the contract's cadence); any other is polled at the contract's
 * interval. Cancelling the wait cancels the run only; the rental keeps starting.
 */
export function isStarting(pod: Pod | undefined): pod is Pod {
  return !!pod && isLivePod(pod) && !pod.ready;
}

export function startingPods(services: KgpuServices): Pod[] {
  return services.pods.pods.filter(isStarting);
}

export function startingPodItem(pod: Pod): { label: string; description: string; detail: string } {
  return {
    label: `$(loading~spin) ${vscode.l10n.t('{0} · starting… — run when ready', pod.gpu_model)}`,
    description: pod.name,
    detail: pod.pod_id,
  };
}

/** The pod once it is ready; undefined when the wait was cancelled or the pod ended (said). */
export async function waitForStartingPod(services: KgpuServices, pod: Pod, what: string): Promise<Pod | undefined> {
  const label = `${pod.name} (${pod.gpu_model} × ${pod.gpu_count})`;
  const controller = new AbortController();
  try {
    const ready = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('kgpu: {0} when {1} is ready', what, label),
        cancellable: true,
      },
      (progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        progress.report({ message: `${pod.phase}…` });
        if (services.podIntents.awaitingReady.has(pod.pod_id))
          return viaModel(services, pod.pod_id, controller.signal, (p) => progress.report({ message: `${p.phase}…` }));
        return pollUntilReady(services, pod.pod_id, controller.signal, progress);
      },
    );
    services.pods.upsert(ready);
    return ready;
  } catch (e) {
    if (isAbortError(e)) return undefined;
    if (e instanceof PodEndedError) {
      services.pods.upsert(e.pod);
      void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0} did not start — {1}; not running. {2}', label, e.label, e.nextAction));
      return undefined;
    }
    services.showError(e, { prefix: vscode.l10n.t('Lost track of {0} while waiting to run:', label) });
    return undefined;
  }
}

/**
 * Polls the pod at the configured interval until it is ready (PodEndedError when it ends first),
 * keeping the model up to date and the progress notification saying where it is: "Pending: <the
 * reason> (12 s)", then "ready".
 */
export function pollUntilReady(
  services: KgpuServices,
  podId: string,
  signal: AbortSignal,
  progress: vscode.Progress<{ message?: string }>,
): Promise<Pod> {
  return services.client().waitUntilReady(podId, {
    signal,
    intervalMs: services.settings.get().pollIntervalSeconds * 1000,
    onProgress: (p) => {
      services.pods.upsert(p.pod);
      progress.report({
        message: p.ready
          ? vscode.l10n.t('ready')
          : vscode.l10n.t('{0} ({1} s)', `${p.phase}${p.pendingReason ? `: ${p.pendingReason}` : ''}`, Math.round(p.elapsedMs / 1000)),
      });
    },
  });
}

/** Follow the model (updated by the rent progress) until the pod is ready or has ended. */
function viaModel(services: KgpuServices, podId: string, signal: AbortSignal, onChange: (p: Pod) => void): Promise<Pod> {
  return new Promise<Pod>((resolve, reject) => {
    const check = (): boolean => {
      const p = services.pods.get(podId);
      if (!p) return false;
      if (p.ready && isLivePod(p)) {
        done();
        resolve(p);
        return true;
      }
      if (!isLivePod(p)) {
        done();
        reject(new PodEndedError(podId, p.phase, p.end_reason ?? null, p));
        return true;
      }
      onChange(p);
      return false;
    };
    const sub = services.pods.onDidChange(() => void check());
    const onAbort = (): void => {
      done();
      reject(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
    };
    const done = (): void => {
      sub.dispose();
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    check();
  });
}

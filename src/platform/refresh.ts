import * as vscode from 'vscode';
import { nextPollDelayMs, PollTimer } from '../kgpu/util/poll-schedule';
import type { KgpuServices } from './services';

/**
 * `kgpu: Refresh` and the automatic refresh: 10–15 s while a pod is Pending (the contract's
 * cadence, never faster), 60 s while pods run and a view is visible, 3 min while hidden (for the
 * status bar's balance and the end-of-pod notifications), nothing when hidden and idle; failures
 * back off up to 5 min. Showing a view refreshes it at once when its data is older than 10 s.
 * A pod being waited for by the rent progress is polled by it alone (it updates the model).
 */
export function registerRefresh(services: KgpuServices): vscode.Disposable {
  let failures = 0;
  let lastRefreshAt: number | undefined;
  const timer = new PollTimer(
    () =>
      nextPollDelayMs({
        pollIntervalSeconds: services.settings.get().pollIntervalSeconds,
        signedIn: services.auth.signedIn,
        // A pod whose rent progress polls it already (and updates the model) needs no second poller.
        hasPending: services.pods.allPods.some((p) => p.phase === 'Pending' && !services.podIntents.awaitingReady.has(p.pod_id)),
        hasLive: services.pods.livePods.length > 0,
        viewsVisible: services.viewVisibility.anyVisible,
        consecutiveFailures: failures,
      }),
    () => services.pods.refresh(),
  );
  return vscode.Disposable.from(
    timer,
    services.pods.onDidChange(() => {
      if (services.pods.lastRefreshAt !== lastRefreshAt) {
        lastRefreshAt = services.pods.lastRefreshAt;
        failures = services.pods.lastError ? failures + 1 : 0;
      }
      timer.reschedule();
    }),
    services.viewVisibility.onDidChange(() => {
      const age = Date.now() - (services.pods.lastRefreshAt ?? 0);
      if (services.viewVisibility.anyVisible && age > 10_000) void services.pods.refresh();
      timer.reschedule();
    }),
    vscode.commands.registerCommand('kgpu.refresh', async () => {
      failures = 0;
      await services.pods.refresh();
    }),
  );
}

import type * as vscode from 'vscode';
import { lazyCommands } from './platform/lazy/lazy-commands';
import type { LazyFeature } from './lazy-contributions';
import type { KgpuServices } from './platform/services';

/**
 * The contributions that only matter while a pod lives (issue 24: activation runs at startup, and
 * most windows have no pod then): the jobs under a rental (listing a live pod's jobs again after a
 * reload, their log panels resumed, Stop / Re-run), forwarded ports (restored after a reload, rows,
 * the "listening on 6006" offers, TensorBoard) and Release When Done. Each is loaded — its module
 * required, and with it the JobRunner and what it holds (sync, transfer, warm start, deps, launch)
 * and src/kgpu/ports — when the first live pod appears (after the start-up refresh or a rent), or
 * on the first call of one of its commands, whichever comes first. Import nothing here but types from
 * these modules (test/unit/extension/startup-modules.test.ts fails otherwise).
 */
export const LIVE_POD_FEATURES: readonly LazyFeature[] = [
  {
    ids: ['kgpu.stopJob', 'kgpu.rerunJob'],
    load: () => (require('./jobs/jobs-view') as typeof import('./jobs/jobs-view')).registerJobs,
  },
  {
    ids: ['kgpu.forwardPort', 'kgpu.openForwardedPort', 'kgpu.copyForwardedPortAddress', 'kgpu.stopForwardingPort', 'kgpu.openTensorBoard'],
    load: () => (require('./ports/port-commands') as typeof import('./ports/port-commands')).registerPorts,
  },
  {
    ids: ['kgpu.releaseWhenDone', 'kgpu.runActiveFileReleaseWhenDone'],
    load: () =>
      (require('./telemetry/release-when-done-command') as typeof import('./telemetry/release-when-done-command')).registerReleaseWhenDone,
  },
];

/** Registers the stubs of the live-pod features and loads them all when the first live pod appears
 *  (`features`: LIVE_POD_FEATURES; test/unit/extension/startup-modules.test.ts passes its own). */
export function registerLivePodContributions(
  services: KgpuServices,
  liveFeatures: readonly LazyFeature[] = LIVE_POD_FEATURES,
): vscode.Disposable {
  const features = liveFeatures.map((f) => lazyCommands(services, f.ids, f.load));
  let loaded = false;
  const check = (): void => {
    if (loaded || services.pods.livePods.length === 0) return;
    loaded = true;
    sub.dispose();
    for (const f of features) {
      try {
        f.load();
      } catch (e) {
        services.log.error(`Could not load a feature: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
  const sub = services.pods.onDidChange(check);
  check();
  return {
    dispose: () => {
      sub.dispose();
      for (const f of features) f.dispose();
    },
  };
}

import * as vscode from 'vscode';
import { isLivePod } from '../kgpu/api/api-types';
import { podRatePerHour } from '../kgpu/model/cost';
import type { Sweep, SweepOptions } from '../kgpu/sweeps/sweep';
import { forgetSweep, storedSweeps, type SweepPlan } from '../kgpu/sweeps/sweep-plan';
import { priceTable } from '../platform/price-table';
import { jobsFor } from '../platform/jobs-service';
import type { PodCommands } from '../kgpu/ssh/pod-commands';
import type { TransitFanOut } from '../kgpu/sweeps/fanout';
import type { KgpuServices } from '../platform/services';

async function podCommandsOf(services: KgpuServices, podId: string): Promise<PodCommands> {
  const session = services.connections.session(podId);
  await session.connector();
  return session.commands;
}

/**
 * The window's sweeps (issue 23): the Sweep of each plan started here or found again in
 * workspaceState after a reload (its running jobs followed again once the pods are known, its
 * queue going on), the pods' ends passed on (a run re-queued), and the plans the Sweeps view shows.
 */
export interface SweepsHub extends vscode.Disposable {
  /** Every known sweep, newest first (running ones have a Sweep). */
  plans(): SweepPlan[];
  get(id: string): Sweep | undefined;
  /** Start a new sweep; `fanOut`: its large files go to every pod through one transit object. */
  start(plan: SweepPlan, fanOut?: TransitFanOut): Sweep;
  forget(id: string): void;
  /** Fires when a sweep or one of its runs changed. */
  readonly onDidChange: vscode.Event<void>;
  /** Resolves when stored sweeps were found again (after the pods' first refresh). */
  readonly resumed: Promise<void>;
}

const hubs = new WeakMap<KgpuServices, SweepsHub>();

/** The Sweep class, loaded when a sweep starts or resumes: it holds the job runner's side of a
 *  sweep, which is not needed to show the Sweeps view at activation (issue 24). */
function sweepModule(): typeof import('../kgpu/sweeps/sweep') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('../kgpu/sweeps/sweep') as typeof import('../kgpu/sweeps/sweep');
}

export function sweepsFor(services: KgpuServices): SweepsHub {
  let hub = hubs.get(services);
  if (hub) return hub;
  const store = services.context.workspaceState;
  const sweeps = new Map<string, Sweep>();
  const emitter = new vscode.EventEmitter<void>();
  // The job runner when a sweep starts or resumes, not when the Sweeps view is registered (issue 24).
  const options = (): SweepOptions => ({
    runner: jobsFor(services).runner,
    store,
    env: () => services.settings.get().env,
    commands: (podId) => podCommandsOf(services, podId),
    ratePerHour: (podId) => {
      const pod = services.pods.get(podId);
      return pod ? podRatePerHour(pod, priceTable(services)) : undefined;
    },
    isPodLive: async (podId) => {
      await services.pods.refresh();
      const pod = services.pods.get(podId);
      return !!pod && isLivePod(pod);
    },
    releasePods: async (podIds) => {
      for (const id of podIds) await services.client().release(id);
      await services.pods.refresh();
      void vscode.window.showInformationMessage(
        podIds.length === 1
          ? vscode.l10n.t('kgpu: the sweep has ended; released 1 pod.')
          : vscode.l10n.t('kgpu: the sweep has ended; released {0} pods.', podIds.length),
      );
    },
  });
  /** Its large files through transit objects: a new sweep's fan-out, or a resumed one's stored. */
  const transit = (plan: SweepPlan, fanOut?: TransitFanOut): Partial<SweepOptions> => {
    // Required here: sweep-transit.ts holds the job runner's run plan, which belongs to a sweep's start, not to activation (issue 24).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
    const { sweepFanOut, transitHooks } = require('../kgpu/sweeps/sweep-transit') as typeof import('../kgpu/sweeps/sweep-transit');
    const f = sweepFanOut(services.client(), plan, fanOut);
    return f
      ? transitHooks(plan, f, {
          commands: (podId) => podCommandsOf(services, podId),
          onFetched: (podId, r) => {
            if (r.fetched.length) services.log.info(`Sweep ${plan.id}: ${podId} fetched ${r.fetched.join(', ')} from transit objects.`);
          },
        })
      : {};
  };
  const attach = (s: Sweep): Sweep => {
    sweeps.set(s.plan.id, s);
    s.onDidChange(() => emitter.fire());
    return s;
  };
  const subs: vscode.Disposable[] = [
    services.pods.onDidEndPod((e) => {
      for (const s of sweeps.values()) if (s.plan.pods.includes(e.pod.pod_id)) s.podEnded(e.pod.pod_id);
    }),
  ];
  const resumed = services.ready.then(() => {
    for (const plan of storedSweeps(store)) {
      if (plan.state !== 'running' || sweeps.has(plan.id)) continue;
      const s = attach(sweepModule().Sweep.resume(plan, { ...options(), ...transit(plan) }));
      for (const podId of plan.pods) {
        const pod = services.pods.get(podId);
        if (!pod || !isLivePod(pod)) s.podEnded(podId);
      }
      s.start();
      services.log.info(`Sweep ${plan.name} (${plan.id}) found again after a reload.`);
    }
    emitter.fire();
  });
  hub = {
    plans: () => [...storedSweeps(store)].reverse().map((p) => sweeps.get(p.id)?.plan ?? p),
    get: (id) => sweeps.get(id),
    start: (plan, fanOut) => {
      const s = attach(new (sweepModule().Sweep)(plan, { ...options(), ...transit(plan, fanOut) }));
      s.start();
      emitter.fire();
      return s;
    },
    forget: (id) => {
      const s = sweeps.get(id);
      if (s?.isRunning) return;
      s?.dispose();
      sweeps.delete(id);
      forgetSweep(store, id);
      emitter.fire();
    },
    onDidChange: emitter.event,
    resumed: resumed.catch(() => undefined),
    dispose: () => {
      for (const s of sweeps.values()) s.dispose();
      for (const d of subs) d.dispose();
      emitter.dispose();
    },
  };
  hubs.set(services, hub);
  return hub;
}

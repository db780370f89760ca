/**
 * A sweep's fan-out hooks (issue 23): before the first run on each pod, the large files are put
 * into their transit objects (once for the sweep) and fetched by that pod (fanout.ts); the objects
 * are recorded in the plan (`plan.transit`) before any pod fetches, so a sweep found again after a
 * window reload fans the same objects out to the pods that never fetched them; the objects are
 * deleted when the sweep ends (also a resumed one).
 */
import type { PodCommands } from '../ssh/pod-commands';
import type { FanOutClient, FanOutResult } from './fanout';
import { TransitFanOut } from './fanout';
import { planRun } from '../jobs/job-runner';
import type { SweepOptions } from './sweep';
import type { SweepPlan } from './sweep-plan';

export interface TransitHooksOptions {
  commands(podId: string): Promise<PodCommands>;
  onFetched?(podId: string, result: FanOutResult): void;
}

/** The fan-out of a plan: a new one (`fanOut` given: recorded in the plan) or the plan's stored
 *  one (after a reload); undefined when the sweep has no large files. */
export function sweepFanOut(client: FanOutClient, plan: SweepPlan, fanOut?: TransitFanOut): TransitFanOut | undefined {
  if (fanOut) {
    plan.transit = { files: fanOut.files.map((f) => ({ rel: f.rel, size: f.size })) };
    return fanOut;
  }
  const folder = plan.recipe.target.kind === 'local' ? plan.recipe.target.folder : undefined;
  return plan.transit?.files.length && folder ? TransitFanOut.restore(client, folder, plan.transit) : undefined;
}

export function transitHooks(
  plan: SweepPlan,
  fanOut: TransitFanOut,
  o: TransitHooksOptions,
): Pick<SweepOptions, 'beforeFirstRun' | 'onEnd'> {
  const remoteDir = planRun({ ...plan.recipe, args: [], env: {} }).remoteDir;
  if (!remoteDir) return {};
  return {
    beforeFirstRun: async (podId) => {
      await fanOut.prepare();
      plan.transit = await fanOut.stored(); // saved by the sweep with the run's start
      const r = await fanOut.fetchInto(await o.commands(podId), remoteDir);
      plan.transit = await fanOut.stored(); // new objects when the old ones had expired
      o.onFetched?.(podId, r);
    },
    onEnd: () => fanOut.dispose(),
  };
}

/**
 * What to tell the user when polling observes a pod state change: ONE notice per change, with the
 * right next action. Pure: the editor adapter shows it and runs the chosen action.
 */
import type { Pod } from '../api/api-types';
import { formatCredits, podRatePerHour } from './cost';
import { describeEndReason } from './end-reason';
import type { PodStateChange } from './rentals-model';
import { MAX_DISK_GIB, MAX_MEMORY_GIB, parseMemoryGiB, type RentAnswers } from './rent-options';

export interface NoticeAction {
  title: string;
  command: string;
  args: unknown[];
}

export interface PodNotice {
  severity: 'info' | 'warning' | 'error';
  message: string;
  actions: NoticeAction[];
}

export interface NoticeContext {
  /** Pods this window released itself (no "released elsewhere" notice). */
  releasedHere: ReadonlySet<string>;
  /** Pods whose readiness this window is already showing (the rent progress). */
  awaitingReady: ReadonlySet<string>;
  /** True when a job of this window was running on the pod: its own notice ("Re-run on a pod with
   *  more …", which also re-runs the file) reports an eviction, so the pod's would be a second one. */
  jobReportsEviction?: (podId: string) => boolean;
}

/** The rent options to re-rent like `pod`, with what made it fail raised. */
export function rentAgainOptions(pod: Pod, change: 'same' | 'more_disk' | 'more_memory'): RentAnswers {
  const base: RentAnswers = {
    gpu_model: pod.gpu_model,
    gpu_count: pod.gpu_count,
    name: pod.name,
    image: pod.image,
    cpu: pod.cpu,
    memory: pod.memory,
    ephemeral_storage_gib: pod.ephemeral_storage_gib,
  };
  if (change === 'more_disk') base.ephemeral_storage_gib = Math.min(MAX_DISK_GIB, Math.max(1, (pod.ephemeral_storage_gib ?? 100) * 2));
  if (change === 'more_memory') {
    const gib = parseMemoryGiB(pod.memory ?? '16Gi') ?? 16;
    base.memory = `${Math.min(MAX_MEMORY_GIB, Math.max(1, Math.ceil(gib * 2)))}Gi`;
  }
  return base;
}

export function podNotice(change: PodStateChange, ctx: NoticeContext): PodNotice | undefined {
  const pod = change.pod;
  const name = `${pod.name} (${pod.gpu_model} × ${pod.gpu_count})`;
  switch (change.kind) {
    case 'ready':
      if (ctx.awaitingReady.has(pod.pod_id)) return undefined;
      return {
        severity: 'info',
        message: `kgpu: ${name} is ready.`,
        actions: [
          { title: 'Open Workspace', command: 'kgpu.openWorkspace', args: [pod.pod_id] },
          { title: 'Open Terminal', command: 'kgpu.openTerminal', args: [pod.pod_id] },
        ],
      };
    case 'idle_warning': {
      const perHour = podRatePerHour(pod);
      const rate = perHour !== undefined ? ` It still bills ${formatCredits(perHour)}/h.` : '';
      return {
        severity: 'warning',
        message: `kgpu: ${name} has had no SSH activity for 12 h and will be released as idle at 24 h.${rate} Release it if you are done, or keep working in it.`,
        actions: [
          { title: 'Release…', command: 'kgpu.release', args: [pod.pod_id] },
          { title: 'Open Terminal', command: 'kgpu.openTerminal', args: [pod.pod_id] },
        ],
      };
    }
    case 'ended': {
      const reason = change.endReason;
      if (reason === 'returned' || reason === '') {
        if (ctx.releasedHere.has(pod.pod_id)) return undefined;
        return { severity: 'info', message: `kgpu: ${name} was released elsewhere (dashboard, CLI or another window).`, actions: [] };
      }
      const d = describeEndReason(reason);
      if ((d.kind === 'disk_full' || d.kind === 'out_of_memory') && ctx.jobReportsEviction?.(pod.pod_id)) return undefined;
      const rent = (title: string, change: 'same' | 'more_disk' | 'more_memory'): NoticeAction => ({
        title,
        command: 'kgpu.rent',
        args: [rentAgainOptions(pod, change)],
      });
      switch (d.kind) {
        case 'out_of_credits':
          return { severity: 'error', message: `kgpu: ${name} — ${d.label}. ${d.nextAction}`, actions: [] };
        case 'disk_full':
          return {
            severity: 'error',
            message: `kgpu: ${name} — ${d.label}. ${d.nextAction}`,
            actions: [rent('Rent with more disk…', 'more_disk')],
          };
        case 'out_of_memory':
          return {
            severity: 'error',
            message: `kgpu: ${name} — ${d.label}. ${d.nextAction}`,
            actions: [rent('Rent with more memory…', 'more_memory')],
          };
        case 'auto_idle':
          return { severity: 'warning', message: `kgpu: ${name} — ${d.label}. ${d.nextAction}`, actions: [rent('Rent again…', 'same')] };
        case 'start_failed':
          return { severity: 'error', message: `kgpu: ${name} — ${d.label}. ${d.nextAction}`, actions: [rent('Rent again…', 'same')] };
        default:
          return { severity: 'warning', message: `kgpu: ${name} — ${d.label}. ${d.nextAction}`, actions: [rent('Rent again…', 'same')] };
      }
    }
  }
}

/**
 * Rows of the Rentals view, from `GET /pods` entries: name, model × count, phase (with
 * pending_reason while Pending), age, credits spent so far, and for ended pods the end reason in
 * plain words. `contextValue` drives the context menu: rental.ready | rental.pending | rental.ended.
 */
import { isLivePod, type Pod } from '../api/api-types';
import { creditsSpentBetween, formatCredits, formatDollars, formatDollarsPerHour, podRatePerHour } from './cost';
import { describeEndReason } from './end-reason';
import { formatAge, md, type TreeItemModel } from './tree-item-model';

export type RentalState = 'ready' | 'pending' | 'ended';

export function rentalState(pod: Pod): RentalState {
  if (!isLivePod(pod)) return 'ended';
  return pod.phase === 'Running' && pod.ready ? 'ready' : 'pending';
}

/** "Pending: ImagePullBackOff: …", "Running", "Starting (Running, not ready)", "Released by you". */
export function phaseText(pod: Pod): string {
  if (!isLivePod(pod)) {
    if (pod.phase === 'Terminating' && (!pod.end_reason || pod.end_reason === 'returned')) return 'Releasing…';
    return describeEndReason(pod.end_reason).label;
  }
  if (pod.phase === 'Pending') return pod.pending_reason ? `Pending: ${pod.pending_reason}` : 'Pending';
  return pod.ready ? 'Running' : 'Running, not ready yet';
}

/** "rtx4090 × 2" (a 0-GPU pod: "rtx4090 × 0 (CPU only)"). */
export function modelText(pod: Pick<Pod, 'gpu_model' | 'gpu_count'>): string {
  return `${pod.gpu_model} × ${pod.gpu_count}${pod.gpu_count === 0 ? ' (CPU only)' : ''}`;
}

/** Credits the rental has cost so far: the server's `credits_spent` when it sends it, else an
 *  estimate (per minute, in advance; failed starts cost 0). */
export function creditsSpent(pod: Pod, now: number): number {
  if (typeof pod.credits_spent === 'number') return pod.credits_spent;
  try {
    const end = pod.ended_at ? Date.parse(pod.ended_at) : now;
    return creditsSpentBetween([pod], Date.parse(pod.created_at), Math.min(end, now));
  } catch {
    return 0; // no price known
  }
}

/** One line: "rtx4090 × 1 · Running · 12m · 200 credits". */
export function podDescription(pod: Pod, now: number): string {
  const age = formatAge(now - Date.parse(pod.created_at));
  return [modelText(pod), phaseText(pod), age, formatCredits(creditsSpent(pod, now))].join(' · ');
}

function icon(pod: Pod): TreeItemModel['icon'] {
  const state = rentalState(pod);
  if (state === 'ready')
    return pod.idle_warning ? { id: 'watch', color: 'list.warningForeground' } : { id: 'vm-running', color: 'charts.green' };
  if (state === 'pending') {
    return pod.pending_reason && /BackOff|Err|fail/i.test(pod.pending_reason)
      ? { id: 'warning', color: 'list.warningForeground' }
      : { id: 'loading~spin', color: 'charts.yellow' };
  }
  if (pod.phase === 'Terminating') return { id: 'loading~spin', color: 'disabledForeground' };
  const end = describeEndReason(pod.end_reason);
  return end.unexpected ? { id: 'warning', color: 'list.warningForeground' } : { id: 'vm-outline', color: 'disabledForeground' };
}

export function rentalItem(pod: Pod, now: number): TreeItemModel {
  const state = rentalState(pod);
  const age = formatAge(now - Date.parse(pod.created_at));
  const spent = creditsSpent(pod, now);
  const description = [modelText(pod), phaseText(pod), age, formatCredits(spent)];
  if (state !== 'ended' && pod.idle_warning) description.splice(2, 0, 'idle 12h+');
  const rate = podRatePerHour(pod);
  const lines = [
    `**${md(pod.name)}** — \`${pod.pod_id}\``,
    '',
    `${md(modelText(pod))}, ${md(pod.cpu ?? '?')} CPU, ${md(pod.memory ?? '?')} RAM, ${pod.ephemeral_storage_gib ?? '?'} GiB disk`,
    `Image: \`${pod.image ?? '?'}\``,
    `State: ${md(phaseText(pod))}`,
    `Rented ${age} ago (${new Date(pod.created_at).toISOString().replace('T', ' ').slice(0, 16)} UTC)`,
  ];
  if (rate !== undefined) lines.push(`Rate: ${formatCredits(rate)}/h (${formatDollarsPerHour(rate)})`);
  lines.push(`Spent so far: ${formatCredits(spent)} (${formatDollars(spent)})`);
  if (state !== 'ended' && pod.idle_warning) lines.push('', '⚠ No SSH activity for 12 h: it will be released as idle at 24 h.');
  if (state === 'ended') lines.push('', md(describeEndReason(pod.end_reason).nextAction));
  return {
    id: `rental:${pod.pod_id}`,
    label: pod.name || pod.pod_id,
    description: description.join(' · '),
    tooltip: lines.join('  \n'),
    contextValue: `rental.${state}`,
    icon: icon(pod),
  };
}

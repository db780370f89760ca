/**
 * The status bar entry while pods run: "$(chip) 2 GPUs · $1.34/h · 5h12m left", a warning when
 * under an hour of credits is left; nothing when no pod is live.
 */
import { isLivePod, type Me, type Pod } from '../api/api-types';
import { formatCredits, formatDollars, formatDollarsPerHour, formatDuration, timeLeftMs } from './cost';
import { estimatedBalance, safeBurn } from './account-view-model';
import { phaseText } from './rentals-view-model';

export interface StatusBarModel {
  text: string;
  /** Markdown. */
  tooltip: string;
  /** Under an hour of credits left. */
  warning: boolean;
}

export const WARN_BELOW_MS = 3_600_000;

export function statusBarModel(
  pods: readonly Pod[],
  me: Me | undefined,
  fetchedAt: number | undefined,
  now: number,
): StatusBarModel | undefined {
  const live = pods.filter(isLivePod);
  if (live.length === 0) return undefined;
  const gpus = live.reduce((n, p) => n + p.gpu_count, 0);
  const burn = safeBurn(live);
  const parts = [`$(chip) ${gpus} GPU${gpus === 1 ? '' : 's'}`, formatDollarsPerHour(burn)];
  let warning = false;
  const lines = live.map((p) => `- **${p.name}** — ${p.gpu_model} × ${p.gpu_count}, ${phaseText(p)}`);
  if (me) {
    const balance = estimatedBalance(me, live, fetchedAt, now);
    const left = timeLeftMs(balance, burn);
    warning = left < WARN_BELOW_MS;
    parts.push(`${formatDuration(left)} left`);
    lines.push(
      '',
      `Balance ${formatCredits(balance)} (${formatDollars(balance)}), burning ${formatCredits(burn)}/h — about ${formatDuration(left)} left.`,
    );
    if (warning) lines.push('', '⚠ Under an hour of credits left: top up or pods are released when credits run out.');
  }
  lines.push('', 'Click to show the kgpu sidebar.');
  return { text: parts.join(' · '), tooltip: lines.join('\n'), warning };
}

/**
 * Rows of the Account view: who is signed in (and where the token comes from), balance in credits
 * and dollars, the burn rate of running pods, the time left at that burn, role and GPU quota.
 */
import { isLivePod, type Me, type Pod } from '../api/api-types';
import { burnRatePerHour, formatCredits, formatDollars, formatDollarsPerHour, formatDuration, timeLeftMs } from './cost';
import { DEFAULT_GPU_QUOTA, gpusInUse } from './rent-options';
import { md, type TreeItemModel } from './tree-item-model';

export interface AccountInputs {
  me: Me | undefined;
  pods: readonly Pod[];
  /** 'stored' (secret storage) or 'environment' ($KGPU_API_TOKEN). */
  tokenSource: 'stored' | 'environment' | 'none';
  apiBase: string;
  /** The last refresh's error message, if it failed. */
  error?: string;
  /** When `me` was fetched and now (ms), to estimate the balance between refreshes. */
  fetchedAt?: number;
  now: number;
}

/** The balance now: `me.credits` at fetch time minus what the live pods burned since (never below 0). */
export function estimatedBalance(me: Pick<Me, 'credits'>, pods: readonly Pod[], fetchedAt: number | undefined, now: number): number {
  if (fetchedAt === undefined || now <= fetchedAt) return me.credits;
  const burn = safeBurn(pods);
  return Math.max(0, me.credits - (burn * (now - fetchedAt)) / 3_600_000);
}

export function safeBurn(pods: readonly Pod[]): number {
  try {
    return burnRatePerHour(pods.filter(isLivePod));
  } catch {
    return 0;
  }
}

export function accountItems(i: AccountInputs): TreeItemModel[] {
  const items: TreeItemModel[] = [];
  if (i.error) {
    items.push({
      id: 'account:error',
      label: 'Cannot refresh',
      description: i.error,
      tooltip: md(i.error) + '  \nRetrying automatically; use Refresh to retry now.',
      contextValue: 'account.error',
      icon: { id: 'error', color: 'list.errorForeground' },
    });
  }
  const via = i.tokenSource === 'environment' ? 'token from $KGPU_API_TOKEN (environment)' : 'token in VS Code secret storage';
  if (!i.me) {
    items.push({
      id: 'account:loading',
      label: 'Signed in',
      description: via,
      tooltip: `Signed in at ${md(i.apiBase)} with a ${md(via)}.`,
      contextValue: 'account.user',
      icon: { id: 'account' },
    });
    return items;
  }
  const me = i.me;
  items.push({
    id: 'account:user',
    label: me.name || me.email,
    description: `${me.email} · ${me.role}${i.tokenSource === 'environment' ? ' · via $KGPU_API_TOKEN' : ''}`,
    tooltip: [
      `**${md(me.name)}** <${md(me.email)}>`,
      `Role: ${md(me.role)} · status: ${md(me.status)}`,
      `API: ${md(i.apiBase)}`,
      `Signed in with a ${md(via)}.`,
    ].join('  \n'),
    contextValue: 'account.user',
    icon: { id: 'account' },
  });
  const balance = estimatedBalance(me, i.pods, i.fetchedAt, i.now);
  items.push({
    id: 'account:balance',
    label: 'Balance',
    description: `${formatCredits(balance)} (${formatDollars(balance)})`,
    tooltip: `${formatCredits(balance)} ≈ ${formatDollars(balance)} ($1 = 1 500 credits). Billed per minute; at zero every pod is released.`,
    contextValue: 'account.balance',
    icon: { id: 'credit-card' },
  });
  const live = i.pods.filter(isLivePod);
  const burn = safeBurn(live);
  items.push({
    id: 'account:burn',
    label: 'Burn rate',
    description:
      burn > 0
        ? `${formatCredits(burn)}/h (${formatDollarsPerHour(burn)}) · ${live.length} pod${live.length === 1 ? '' : 's'}`
        : 'nothing running',
    tooltip:
      burn > 0
        ? `${live.length} live pod${live.length === 1 ? '' : 's'} bill ${formatCredits(burn)} per hour.`
        : 'No pod is running; nothing is billed.',
    contextValue: 'account.burn',
    icon: { id: 'flame', color: burn > 0 ? 'charts.orange' : undefined },
  });
  const left = timeLeftMs(balance, burn);
  items.push({
    id: 'account:timeLeft',
    label: 'Time left',
    description: burn > 0 ? formatDuration(left) : '—',
    tooltip:
      burn > 0
        ? `At ${formatCredits(burn)}/h your balance lasts about ${formatDuration(left)}; then kgpu releases every pod (out_of_credits).`
        : 'Nothing is billed right now.',
    contextValue: 'account.timeLeft',
    icon: burn > 0 && left < 3_600_000 ? { id: 'warning', color: 'list.warningForeground' } : { id: 'watch' },
  });
  const quota = typeof me.quota?.max_gpus === 'number' ? me.quota.max_gpus : DEFAULT_GPU_QUOTA;
  items.push({
    id: 'account:quota',
    label: 'GPUs',
    description: `${gpusInUse(i.pods)} of ${quota} in use`,
    tooltip:
      `Up to ${quota} concurrent GPUs across all your rentals.` +
      (Object.keys(me.quota ?? {}).length ? `  \nQuota: \`${md(JSON.stringify(me.quota))}\`` : ''),
    contextValue: 'account.quota',
    icon: { id: 'dashboard' },
  });
  return items;
}

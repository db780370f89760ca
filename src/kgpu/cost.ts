/**
 * Money and time arithmetic for kgpu credits (contract, "Pricing"): `$1 = 1500 credits`,
 * per-minute deduction, an N-GPU rental bills N × the per-GPU rate and a 0-GPU (CPU-only) pod
 * still bills the class rate.
 */
import type { Pod } from './api-types';

export const CREDITS_PER_DOLLAR = 1500;

export function creditsToDollars(credits: number): number {
  return credits / CREDITS_PER_DOLLAR;
}

export function dollarsToCredits(dollars: number): number {
  return Math.round(dollars * CREDITS_PER_DOLLAR);
}

/** 1200 → "1 200", 99000 → "99 000", -1500 → "-1 500" (rounded to whole credits). */
export function groupDigits(value: number): string {
  const n = Math.round(value);
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** 1200 → "1 200 credits", 1 → "1 credit". */
export function formatCredits(credits: number): string {
  const n = Math.round(credits);
  return `${groupDigits(n)} ${Math.abs(n) === 1 ? 'credit' : 'credits'}`;
}

/** 2010 credits → "$1.34". */
export function formatDollars(credits: number): string {
  const d = creditsToDollars(credits);
  return `${d < 0 ? '-' : ''}$${Math.abs(d).toFixed(2)}`;
}

/** 1000 credits per hour → "$0.67/h". */
export function formatDollarsPerHour(creditsPerHour: number): string {
  return `${formatDollars(creditsPerHour)}/h`;
}

/** 1000 credits per hour → "1 000 credits/h". */
export function formatCreditsPerHour(creditsPerHour: number): string {
  return `${groupDigits(creditsPerHour)} credits/h`;
}

/** Credits per hour one rental burns: N × the per-GPU rate; a 0-GPU pod bills the class rate. */
export function rentalRatePerHour(pricePerHourCredits: number, gpuCount: number): number {
  return pricePerHourCredits * Math.max(gpuCount, 1);
}

/** The phases in which a rental is billed (it exists and has not been released). */
export function isBilling(pod: Pick<Pod, 'phase'>): boolean {
  return pod.phase === 'Pending' || pod.phase === 'Running';
}

export type PodCostFields = Pick<Pod, 'phase' | 'gpu_model' | 'gpu_count'> & { price_per_hour_credits?: number };

/**
 * Credits per hour the account's live pods burn together. A pod's own `price_per_hour_credits`
 * is used; `prices` (gpu_model → per-GPU credits/h, e.g. from `GET /gpu-models`) fills in when a
 * pod lacks it.
 */
export function burnRatePerHour(pods: readonly PodCostFields[], prices?: ReadonlyMap<string, number> | Readonly<Record<string, number>>): number {
  let total = 0;
  for (const pod of pods) {
    if (!isBilling(pod)) continue;
    const price = pod.price_per_hour_credits ?? priceOf(prices, pod.gpu_model);
    if (price === undefined) throw new Error(`No price known for GPU model ${pod.gpu_model} (pod not in GET /gpu-models?)`);
    total += rentalRatePerHour(price, pod.gpu_count);
  }
  return total;
}

function priceOf(prices: ReadonlyMap<string, number> | Readonly<Record<string, number>> | undefined, model: string): number | undefined {
  if (!prices) return undefined;
  if (prices instanceof Map) return prices.get(model);
  return Object.prototype.hasOwnProperty.call(prices, model) ? (prices as Readonly<Record<string, number>>)[model] : undefined;
}

/** Milliseconds until `balance` reaches zero at `creditsPerHour`; Infinity when nothing burns, 0 when already out. */
export function timeLeftMs(balanceCredits: number, creditsPerHour: number): number {
  if (balanceCredits <= 0) return 0;
  if (creditsPerHour <= 0) return Infinity;
  return (balanceCredits / creditsPerHour) * 3_600_000;
}

/**
 * A compact duration: "5h12m", "45m", "2d3h", "<1m"; Infinity → "∞". Rounded down, so a
 * "time left" never promises more than there is.
 */
export function formatDuration(ms: number): string {
  if (ms === Infinity) return '∞';
  if (!(ms >= 60_000)) return '<1m';
  const totalMinutes = Math.floor(ms / 60_000);
  const days = Math.floor(totalMinutes / 1440);
  const hours = Math.floor((totalMinutes % 1440) / 60);
  const minutes = totalMinutes % 60;
  if (days > 0) return `${days}d${hours}h`;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  return `${minutes}m`;
}

/** "5h12m" of credits left at the current burn, from balance and rate. */
export function formatTimeLeft(balanceCredits: number, creditsPerHour: number): string {
  return formatDuration(timeLeftMs(balanceCredits, creditsPerHour));
}

export type PodBillingFields = PodCostFields & Pick<Pod, 'created_at'> & { ended_at?: string | null };

/**
 * Credits the pods burned between `fromMs` and `toMs` (epoch ms; `toMs` also stands for "now"
 * for pods still running), at per-minute granularity: each pod is billed for the whole minutes
 * of its rental that fall in the interval. Failed starts (`start_failed:…`) are refunded, so
 * they count 0. An estimate of what the server deducts, for display.
 */
export function creditsSpentBetween(
  pods: readonly (PodBillingFields & { end_reason?: string | null })[],
  fromMs: number,
  toMs: number,
  prices?: ReadonlyMap<string, number> | Readonly<Record<string, number>>,
): number {
  let total = 0;
  for (const pod of pods) {
    if (pod.end_reason?.startsWith('start_failed:')) continue;
    const start = Date.parse(pod.created_at);
    const end = pod.ended_at ? Date.parse(pod.ended_at) : toMs;
    const lo = Math.max(start, fromMs);
    const hi = Math.min(end, toMs);
    if (!(hi > lo)) continue;
    const price = pod.price_per_hour_credits ?? priceOf(prices, pod.gpu_model);
    if (price === undefined) throw new Error(`No price known for GPU model ${pod.gpu_model}`);
    const minutes = Math.floor((hi - lo) / 60_000);
    total += (rentalRatePerHour(price, pod.gpu_count) * minutes) / 60;
  }
  return total;
}

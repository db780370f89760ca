/**
 * Money and time arithmetic for kgpu credits (contract, "Pricing"): `$1 = 1500 credits`,
 * per-minute deduction, an N-GPU rental bills N × the per-GPU rate and a 0-GPU (CPU-only) pod
 * still bills the class rate.
 */
import type { Pod } from '../api/api-types';
import { groupDigits } from '../util/format-number';

export const CREDITS_PER_DOLLAR = 1500;

export function creditsToDollars(credits: number): number {
  return credits / CREDITS_PER_DOLLAR;
}

export function dollarsToCredits(dollars: number): number {
  return Math.round(dollars * CREDITS_PER_DOLLAR);
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

export type PriceTable = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

export type PodCostFields = Pick<Pod, 'phase' | 'gpu_model' | 'gpu_count'> & {
  price_per_hour_credits?: number;
  price_per_gpu_hour_credits?: number;
};

/**
 * Credits per hour one pod burns (whatever its phase). The per-GPU rate comes from, in order:
 * the pod's `price_per_gpu_hour_credits`; `prices` (gpu_model → per-GPU credits/h, i.e.
 * `GET /gpu-models`); else the pod's `price_per_hour_credits` — which is already the rental's
 * total when the server also sends the per-GPU field (the simulator does), so it is only read as
 * per-GPU when nothing else is known. Undefined when no price is known.
 */
export function podRatePerHour(pod: PodCostFields, prices?: PriceTable): number | undefined {
  if (typeof pod.price_per_gpu_hour_credits === 'number') return rentalRatePerHour(pod.price_per_gpu_hour_credits, pod.gpu_count);
  const listed = priceOf(prices, pod.gpu_model);
  if (listed !== undefined) return rentalRatePerHour(listed, pod.gpu_count);
  if (typeof pod.price_per_hour_credits === 'number') return rentalRatePerHour(pod.price_per_hour_credits, pod.gpu_count);
  return undefined;
}

function requireRate(pod: PodCostFields, prices?: PriceTable): number {
  const rate = podRatePerHour(pod, prices);
  if (rate === undefined) throw new Error(`No price known for GPU model ${pod.gpu_model} (not in GET /gpu-models?)`);
  return rate;
}

/** Credits per hour the account's live (Pending/Running) pods burn together. */
export function burnRatePerHour(pods: readonly PodCostFields[], prices?: PriceTable): number {
  let total = 0;
  for (const pod of pods) if (isBilling(pod)) total += requireRate(pod, prices);
  return total;
}

function priceOf(prices: PriceTable | undefined, model: string): number | undefined {
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

export type PodBillingFields = PodCostFields & Pick<Pod, 'created_at'> & { ended_at?: string | null; end_reason?: string | null };

/**
 * Credits the pods were charged in [`fromMs`, `toMs`) (epoch ms; `toMs` is usually "now").
 * Billing is per minute, in advance: a rental is charged one minute's worth at creation and at
 * every whole minute after it, up to and including the instant it ends. Consecutive intervals
 * add up. Failed starts (`start_failed:…`) are refunded, so they count 0. An estimate of the
 * server's deductions, for display.
 */
export function creditsSpentBetween(pods: readonly PodBillingFields[], fromMs: number, toMs: number, prices?: PriceTable): number {
  let total = 0;
  for (const pod of pods) {
    if (pod.end_reason?.startsWith('start_failed:')) continue;
    const created = Date.parse(pod.created_at);
    // Charges at c = created + k·60 s (k ≥ 0) with fromMs ≤ c < toMs and c ≤ ended_at.
    const first = created >= fromMs ? 0 : Math.ceil((fromMs - created) / 60_000);
    let last = Math.ceil((toMs - created) / 60_000) - 1;
    if (pod.ended_at) last = Math.min(last, Math.floor((Date.parse(pod.ended_at) - created) / 60_000));
    const charges = Math.max(0, last - first + 1);
    if (charges > 0) total += (requireRate(pod, prices) * charges) / 60;
  }
  return total;
}

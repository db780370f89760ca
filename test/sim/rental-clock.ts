/**
 * What happens to a rental each simulated minute (SimState's minute tick): the minute is charged
 * to its account, then its idle clock is looked at — past the warning threshold the pod is probed
 * for load; a busy pod's clock resets, an idle one is warned, then reaped (`auto_idle`).
 */
import type { EndReason } from './contracts';
import { IDLE_REAP_MS, IDLE_WARN_MS, type Account, type PodRecord } from './state-records';

/** Take `amount` from the account for the pod (all it has, when it has less); false when the account is
 *  now empty (the rental ends: out_of_credits). */
export function charge(account: Account, pod: PodRecord, amount: number): boolean {
  if (account.credits + 1e-9 >= amount) {
    account.credits -= amount;
    pod.credits_spent += amount;
    return account.credits > 1e-9;
  }
  pod.credits_spent += account.credits;
  account.credits = 0;
  return false;
}

/** The idle clock of a rental whose minute was just paid. */
export async function checkIdle(
  pod: PodRecord,
  now: () => number,
  end: (pod: PodRecord, reason: EndReason) => Promise<void>,
): Promise<void> {
  if (pod.phase !== 'Running' || !pod.ready) return;
  const idle = now() - pod.last_activity_at;
  // Past the warn threshold the real service probes the pod's load (GPU > 5 % or a process
  // > 10 % CPU): a busy pod's idle clock resets instead of warning or being reaped. Probed when
  // the warning would go up and when the pod would be reaped.
  const reap = idle >= IDLE_REAP_MS;
  if (!reap && (idle < IDLE_WARN_MS || pod.idle_warning)) return;
  let busy = false;
  try {
    busy = (await pod.handle?.isBusy()) ?? false;
  } catch {
    busy = false;
  }
  if (pod.ended_at !== null) return;
  if (busy) {
    pod.last_activity_at = now();
    pod.idle_warning = false;
  } else if (reap) {
    await end(pod, 'auto_idle');
  } else {
    pod.idle_warning = true;
  }
}

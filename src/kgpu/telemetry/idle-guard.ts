/**
 * The idle guard of one pod: while it is billed, no job of this window runs on it and every GPU
 * stays under 5 % utilisation for `minutes` (kgpu.idleGuardMinutes, default 30), ask ONCE:
 * "<model> idle for 30 min at $x/h — Release · Keep · Remind me in 1 h". It judges the GPU
 * snapshots it is given (gpu-telemetry.ts), stamped with the telemetry's clock — tests drive it
 * with the simulator's clock. A gap in telemetry keeps the idle period going (nothing of this
 * window ran meanwhile: a job start calls `activity()`).
 *  - Keep: not asked again until the pod has been busy and then idle for `minutes` again.
 *  - Remind me in 1 h: asked again 1 h later if it is still idle.
 *  - Release: the caller releases the pod.
 */
import type { GpuSnapshot } from './gpu-sample';

export const IDLE_UTILIZATION_PERCENT = 5;
export const DEFAULT_IDLE_GUARD_MINUTES = 30;
export const REMIND_LATER_MS = 60 * 60_000;

export type IdleAnswer = 'release' | 'keep' | 'remind';

export class IdleGuard {
  private idleSince: number | undefined;
  private kept = false;
  private snoozeUntil: number | undefined;
  private asked = false;

  /** `minutes` is read on every snapshot (a settings change applies at once); 0 turns the guard off. */
  constructor(private readonly minutes: () => number) {}

  /** The question is out and not answered yet. */
  get pending(): boolean {
    return this.asked;
  }

  /** Since when the pod has been idle (clock ms), if it is. */
  get idleSinceMs(): number | undefined {
    return this.idleSince;
  }

  /** A job of this window started or runs on the pod: it is not idle. */
  activity(): void {
    this.idleSince = undefined;
    this.kept = false;
  }

  /** Judge one snapshot; true when the question should be asked now (then `pending` until answered). */
  observe(snap: GpuSnapshot, jobRunning: boolean): boolean {
    const busy = jobRunning || snap.gpus.some((g) => g.utilization >= IDLE_UTILIZATION_PERCENT);
    if (busy) {
      this.activity();
      return false;
    }
    this.idleSince ??= snap.at;
    const minutes = this.minutes();
    if (!(minutes > 0) || this.asked || this.kept) return false;
    if (this.snoozeUntil !== undefined && snap.at < this.snoozeUntil) return false;
    if (snap.at - this.idleSince < minutes * 60_000) return false;
    this.asked = true;
    return true;
  }

  /** The user's answer (undefined: the notification was dismissed — treated as Keep). */
  answer(a: IdleAnswer | undefined, now: number): void {
    this.asked = false;
    if (a === 'remind') this.snoozeUntil = now + REMIND_LATER_MS;
    else this.kept = true;
  }
}

/** "RTX 4090 idle for 30 min at $1.20/h" (the notification's text, less its buttons). */
export function idleGuardMessage(model: string, idleMs: number, ratePerHour: string | undefined): string {
  const minutes = Math.max(1, Math.round(idleMs / 60_000));
  const span = minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`;
  return `${model} idle for ${span}${ratePerHour ? ` at ${ratePerHour}` : ''}`;
}

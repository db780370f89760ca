/**
 * When a pod's GPU telemetry may run. It is a convenience, so it must never be what keeps a
 * forgotten pod billing: it runs only while a kgpu view is visible, a job of this window runs on
 * the pod or the active notebook editor uses a kgpu kernel on the pod, and never once the window has been unfocused for 10 minutes or while the idle
 * guard's question waits for an answer. Then the agent closes after its quiet period and kgpu's
 * own idle rule (12 h without SSH activity warns, 24 h releases) applies as before.
 */
export const UNFOCUSED_STOP_MS = 10 * 60_000;

export interface TelemetryDemandInputs {
  /** A kgpu view (Rentals, Jobs…) is visible. */
  viewVisible: boolean;
  /** A job started from this window is running on the pod. */
  jobRunning: boolean;
  /** Something of this window shows the pod's numbers outside the views: the active notebook
   *  editor uses a kgpu kernel on the pod (its status-bar item). */
  inUse?: boolean;
  /** How long the window has been unfocused (0 while focused). */
  unfocusedForMs: number;
  /** The idle guard asked about this pod and nobody answered yet. */
  idleQuestionPending: boolean;
}

export function telemetryWanted(i: TelemetryDemandInputs): boolean {
  if (i.unfocusedForMs >= UNFOCUSED_STOP_MS) return false;
  if (i.idleQuestionPending) return false;
  return i.viewVisible || i.jobRunning || i.inUse === true;
}

/** How long the window has been unfocused, from focus changes; `now` is injectable. */
export class FocusClock {
  private unfocusedSince: number | undefined;

  constructor(
    focused: boolean,
    private readonly now: () => number = Date.now,
  ) {
    if (!focused) this.unfocusedSince = now();
  }

  set(focused: boolean): void {
    if (focused) this.unfocusedSince = undefined;
    else this.unfocusedSince ??= this.now();
  }

  get unfocusedForMs(): number {
    return this.unfocusedSince === undefined ? 0 : Math.max(0, this.now() - this.unfocusedSince);
  }

  /** Milliseconds until the 10-minute mark, if unfocused and not there yet. */
  get msUntilStop(): number | undefined {
    if (this.unfocusedSince === undefined) return undefined;
    const left = UNFOCUSED_STOP_MS - this.unfocusedForMs;
    return left > 0 ? left : undefined;
  }
}

/** How often the idle guard samples a pod's GPUs while the live numbers are not wanted. */
export const GUARD_SAMPLE_MS = 60_000;

/** `live`: the 1 Hz numbers (a kgpu view visible or a job of this window running; they feed the
 *  idle guard too); `guard`: only the idle guard's sample once a minute, so a billed pod is judged
 *  whether or not a kgpu view is open; `off`: nothing (the window unfocused for 10 minutes, the
 *  guard's question open, or the guard off with no view and no job). */
export type TelemetryMode = 'live' | 'guard' | 'off';

export function telemetryMode(i: TelemetryDemandInputs & { idleGuardOn: boolean }): TelemetryMode {
  if (telemetryWanted(i)) return 'live';
  if (i.unfocusedForMs >= UNFOCUSED_STOP_MS || i.idleQuestionPending) return 'off';
  return i.idleGuardOn ? 'guard' : 'off';
}

/**
 * What this window itself is doing to its pods, which the pod notices and the refresh cadence must
 * know: pods it released (no "released elsewhere" notice for them) and pods whose readiness a rent
 * progress notification is showing (no separate "ready" notice). One per window, owned by the
 * services (`services.podIntents`): rent and release write it, refresh and the notices read it.
 */
export class PodIntents {
  /** Pods this window released itself. */
  readonly releasedHere = new Set<string>();
  /** Pods whose readiness a rent progress notification is showing. */
  readonly awaitingReady = new Set<string>();
}

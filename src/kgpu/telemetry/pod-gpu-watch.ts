/**
 * One billed pod's GPUs as the editor watches them: the live 1 Hz telemetry (Rentals row, tooltip,
 * job peaks) and, while that is not wanted, the idle guard's own sample once a minute — both judged
 * by the pod's IdleGuard — switched by `setMode` (telemetry-demand.ts telemetryMode). Neither runs
 * in `off`, so neither keeps a forgotten pod's SSH activity alive.
 */
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { GpuTelemetry, type GpuTelemetryOptions } from './gpu-telemetry';
import { IdleGuard } from './idle-guard';
import { GUARD_SAMPLE_MS, type TelemetryMode } from './telemetry-demand';

export interface PodGpuWatchOptions extends Pick<GpuTelemetryOptions, 'openStream' | 'now' | 'retryMs'> {
  /** kgpu.idleGuardMinutes (read on every sample). */
  minutes(): number;
  /** A job of this window runs on the pod (then it is not idle). */
  jobRunning(): boolean;
  /** The live numbers' interval (default 1 000 ms). */
  liveIntervalMs?: number;
  /** The guard's own sampling interval (default GUARD_SAMPLE_MS). */
  guardSampleMs?: number;
}

export class PodGpuWatch implements Disposable {
  readonly live: GpuTelemetry;
  /** The guard's sampler: runs only in `guard` mode. */
  readonly sampler: GpuTelemetry;
  readonly guard: IdleGuard;
  private readonly askEmitter = new Emitter<number>();
  /** The guard's question is due (the snapshot's clock time); `guard.pending` until answered. */
  readonly onDidAsk: Event<number> = this.askEmitter.event;
  private current: TelemetryMode = 'off';

  constructor(options: PodGpuWatchOptions) {
    const base = { openStream: options.openStream, now: options.now, retryMs: options.retryMs };
    this.live = new GpuTelemetry({ ...base, intervalMs: options.liveIntervalMs });
    this.sampler = new GpuTelemetry({ ...base, intervalMs: options.guardSampleMs ?? GUARD_SAMPLE_MS });
    this.guard = new IdleGuard(options.minutes);
    for (const t of [this.live, this.sampler])
      t.onDidSample((s) => {
        if (this.guard.observe(s, options.jobRunning())) this.askEmitter.fire(s.at);
      });
  }

  get mode(): TelemetryMode {
    return this.current;
  }

  setMode(mode: TelemetryMode): void {
    this.current = mode;
    if (mode !== 'live') this.live.stop();
    if (mode !== 'guard') this.sampler.stop();
    if (mode === 'live') this.live.start();
    if (mode === 'guard') this.sampler.start();
  }

  dispose(): void {
    this.live.dispose();
    this.sampler.dispose();
    this.askEmitter.dispose();
  }
}

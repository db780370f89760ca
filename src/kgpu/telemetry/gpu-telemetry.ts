/**
 * Live GPU telemetry of one pod: ONE `nvidia-smi --query-gpu=… -lms 1000` process in the pod,
 * run as a pod-agent process stream (no SSH connection of its own), parsed into a snapshot per
 * tick. It runs only between `start()` and `stop()` — the caller decides when it is wanted (a
 * kgpu view visible or a job running, the window not unfocused for long: telemetry-demand.ts) —
 * so it never keeps a forgotten pod's SSH activity alive by itself: once stopped, the agent's
 * quiet period closes the agent and the pod's own idle rule applies. A stream that fails (the
 * connection dropped) is restarted after `retryMs` while still started.
 */
import { StringDecoder } from 'node:string_decoder';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import type { AgentStream, AgentTarget } from '../agent';
import { parseGpuLine, telemetryArgv, type GpuReading, type GpuSnapshot } from './gpu-sample';

export interface GpuTelemetryOptions {
  openStream(target: AgentTarget, options: { signal?: AbortSignal }): Promise<AgentStream>;
  /** The clock that stamps snapshots (default Date.now; tests pass the simulator's). */
  now?: () => number;
  /** nvidia-smi's loop interval (default 1 000 ms). */
  intervalMs?: number;
  /** Wait before restarting a failed stream (default 5 000 ms). */
  retryMs?: number;
}

/** The highest total memory used seen while it is open (a job's peak, for its log footer). */
export interface PeakTracker extends Disposable {
  /** Summed memory.used over the pod's GPUs, MiB; undefined before the first snapshot. */
  readonly peakMiB: number | undefined;
  readonly totalMiB: number | undefined;
}

export class GpuTelemetry implements Disposable {
  private readonly sampleEmitter = new Emitter<GpuSnapshot>();
  readonly onDidSample: Event<GpuSnapshot> = this.sampleEmitter.event;
  private readonly stateEmitter = new Emitter<boolean>();
  /** Started (true) or stopped (false). */
  readonly onDidChangeRunning: Event<boolean> = this.stateEmitter.event;
  /** The latest snapshot while running; undefined when stopped. */
  latest: GpuSnapshot | undefined;
  /** Bytes nvidia-smi sent (the wire cost is this plus the agent's 9-byte frame headers). */
  bytesReceived = 0;
  /** Snapshots received since construction. */
  snapshots = 0;
  /** Streams opened (each start and each restart after a failure). */
  streamsOpened = 0;
  private run: AbortController | undefined;
  private stream: AgentStream | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private readonly peaks = new Set<{ peak?: number; total?: number }>();
  private disposed = false;

  constructor(private readonly options: GpuTelemetryOptions) {}

  get running(): boolean {
    return this.run !== undefined;
  }

  start(): void {
    if (this.disposed || this.run) return;
    this.run = new AbortController();
    this.stateEmitter.fire(true);
    this.open(this.run);
  }

  stop(): void {
    if (!this.run) return;
    this.run.abort();
    this.run = undefined;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.stream?.destroy();
    this.stream = undefined;
    this.latest = undefined;
    this.stateEmitter.fire(false);
  }

  /** Track the peak memory from now until disposed (a running job's). */
  trackPeak(): PeakTracker {
    const cell: { peak?: number; total?: number } = {};
    if (this.latest) this.fold(cell, this.latest.gpus);
    this.peaks.add(cell);
    return {
      get peakMiB() {
        return cell.peak;
      },
      get totalMiB() {
        return cell.total;
      },
      dispose: () => void this.peaks.delete(cell),
    };
  }

  private fold(cell: { peak?: number; total?: number }, gpus: readonly GpuReading[]): void {
    const used = gpus.reduce((a, g) => a + g.memoryUsedMiB, 0);
    cell.peak = Math.max(cell.peak ?? 0, used);
    cell.total = gpus.reduce((a, g) => a + g.memoryTotalMiB, 0);
  }

  private open(run: AbortController): void {
    const target: AgentTarget = { kind: 'process', argv: telemetryArgv(this.options.intervalMs), stderr: 'discard' };
    this.options.openStream(target, { signal: run.signal }).then(
      (s) => {
        if (run.signal.aborted) {
          s.destroy();
          return;
        }
        this.streamsOpened++;
        this.stream = s;
        s.end();
        this.read(s, run);
        const ended = (): void => {
          if (this.stream === s) this.stream = undefined;
          this.scheduleRetry(run);
        };
        s.once('error', ended);
        s.once('end', ended);
      },
      () => this.scheduleRetry(run),
    );
  }

  private scheduleRetry(run: AbortController): void {
    if (run.signal.aborted || this.run !== run || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.run === run) this.open(run);
    }, this.options.retryMs ?? 5000);
    this.retry.unref?.();
  }

  private read(s: AgentStream, run: AbortController): void {
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let batch = new Map<number, GpuReading>();
    let gpuCount = 0;
    const flush = (): void => {
      if (batch.size === 0 || run.signal.aborted) return;
      const gpus = [...batch.values()].sort((a, b) => a.index - b.index);
      batch = new Map();
      gpuCount = Math.max(gpuCount, gpus.length);
      const snap: GpuSnapshot = { at: (this.options.now ?? Date.now)(), gpus };
      this.latest = snap;
      this.snapshots++;
      for (const cell of this.peaks) this.fold(cell, gpus);
      this.sampleEmitter.fire(snap);
    };
    s.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      pending += decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const r = parseGpuLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (!r) continue;
        // A GPU seen again starts the next tick.
        if (batch.has(r.index)) flush();
        batch.set(r.index, r);
      }
      if (pending.length > 4096) pending = '';
      // A whole tick arrived (as many GPUs as the largest tick so far, or the first tick's chunk).
      if (batch.size >= Math.max(1, gpuCount)) flush();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.stop();
    this.disposed = true;
    this.peaks.clear();
    this.sampleEmitter.dispose();
    this.stateEmitter.dispose();
  }
}

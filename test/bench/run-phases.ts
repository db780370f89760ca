/**
 * Where a run's edit → first-log-line time goes (issues 22 and 25): the bench wraps the
 * PodCommands a JobRunner uses and records, for each exec, when it was asked for, when its channel
 * was open (execStream) and when it ended or sent its first byte; the sync's progress callbacks
 * give the local scan/hash and the upload's start; the pod's own clock (the simulator's pods
 * share this machine's clock) gives the job's start (its `started_at`) and the moment the script
 * printed its first line (the bench scripts print `t_ms=<time.time() in ms>` on it).
 * Everything is in ms from the runFile() call. Bench-only: the product code is not touched.
 */
import type { PodCommands } from '../../src/kgpu/ssh/pod-commands';
import type { SyncProgress } from '../../src/kgpu/transfer/sync';
import { summarize } from './measure';

/** One exec of a run, as the tracer saw it (ms from the run's start). */
interface ExecTrace {
  kind: 'follow' | 'sync+start' | 'start' | 'probe' | 'other';
  asked: number;
  /** execStream: the channel is open and the command running. */
  open?: number;
  /** execStream: its first stdout byte arrived. */
  firstOut?: number;
  /** exec: it returned (the command ended). */
  ended?: number;
}

function kindOf(line: string): ExecTrace['kind'] {
  if (line.includes('kgpu-follow') && line.includes('kgpu-start')) return 'start';
  if (line.includes('kgpu-follow')) return 'follow';
  if (line.includes('kgpu-sync-probe')) return 'probe';
  if (line.includes('kgpu-start')) return 'start';
  if (line.includes('tar')) return 'sync+start';
  return 'other';
}

/** The phases of one run. */
export interface RunPhases {
  /** Local scan + hash done (the sync's 'uploading' phase began): ms from the start. */
  local_done: number | null;
  follow_asked: number | null;
  follow_open: number | null;
  sync_asked: number | null;
  /** The sync's exec (which ran the start) returned: the job is launched. */
  sync_start_returned: number | null;
  /** Pod clock: the job's process began (started_at). */
  job_started: number | null;
  /** Pod clock: the script printed its first line. */
  first_line_printed: number | null;
  /** The first log byte reached onData. */
  first_byte: number | null;
  /** Execs (each one channel; without a spare, one SSH connection) used up to the first byte. */
  execs_before_first_byte: number;
}

/** Records one run at a time: `begin()` at runFile(), then the hooks. */
export class PhaseTracer {
  private t0 = 0;
  private wall0 = 0;
  private execs: ExecTrace[] = [];
  private uploading: number | null = null;
  private firstByteAt: number | null = null;
  readonly runs: RunPhases[] = [];

  /** The PodCommands to give the runner: `pod`, timed. */
  wrap(pod: PodCommands): PodCommands {
    return {
      exec: async (command, options) => {
        const e: ExecTrace = { kind: kindOf(String(command)), asked: this.now() };
        this.execs.push(e);
        try {
          return await pod.exec(command, options);
        } finally {
          e.ended = this.now();
        }
      },
      execStream: async (command, options) => {
        const e: ExecTrace = { kind: kindOf(String(command)), asked: this.now() };
        this.execs.push(e);
        const s = await pod.execStream(command, options);
        e.open = this.now();
        s.stdout.once('data', () => (e.firstOut ??= this.now()));
        return s;
      },
    };
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  begin(): void {
    this.t0 = performance.now();
    this.wall0 = Date.now();
    this.execs = [];
    this.uploading = null;
    this.firstByteAt = null;
  }

  onSyncProgress = (p: SyncProgress): void => {
    if (p.phase === 'uploading' && this.uploading === null) this.uploading = this.now();
  };

  firstByte(): void {
    this.firstByteAt ??= this.now();
  }

  /** After the run: `log` is its log text, `startedAt` the job's started_at (pod clock, ms). */
  end(log: string, startedAt: number | undefined): RunPhases {
    const first = (k: ExecTrace['kind']): ExecTrace | undefined => this.execs.find((e) => e.kind === k);
    const follow = first('follow') ?? first('start');
    const sync = first('sync+start') ?? first('start');
    const r = (v: number | undefined | null): number | null => (v === undefined || v === null ? null : Math.round(v));
    const printed = Number(/t_ms=(\d+)/.exec(log)?.[1] ?? NaN);
    const fb = this.firstByteAt;
    const run: RunPhases = {
      local_done: r(this.uploading),
      follow_asked: r(follow?.asked),
      follow_open: r(follow?.open),
      sync_asked: r(sync?.asked),
      sync_start_returned: r(sync?.ended ?? sync?.open),
      job_started: startedAt ? Math.round(startedAt - this.wall0) : null,
      first_line_printed: Number.isFinite(printed) ? Math.round(printed - this.wall0) : null,
      first_byte: r(fb),
      execs_before_first_byte: this.execs.filter((e) => fb !== null && e.asked <= fb).length,
    };
    this.runs.push(run);
    return run;
  }

  /** Each phase's median over the runs (the json's `phases_ms`), and the runs themselves. */
  summary(): Record<string, unknown> {
    const out: Record<string, number | null> = {};
    for (const k of Object.keys(this.runs[0] ?? {}) as (keyof RunPhases)[]) {
      const v = this.runs.map((x) => x[k]).filter((x): x is number => x !== null);
      out[k] = v.length ? Math.round(summarize(v).median) : null;
    }
    return { phases_ms_median: out, phases_ms_runs: this.runs };
  }
}

/** One line for the bench log. */
export function describePhases(p: RunPhases): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v ?? '–'}`)
    .join(' ');
}

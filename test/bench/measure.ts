/**
 * Timing, child processes and summaries for the bench: what every scenario shares.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { LinkProfile } from './links/profiles';

export const now = (): number => performance.now();

/**
 * Run a program to completion; throws with its stderr on a non-zero exit. A tool that exits (or
 * closes its stdin) before reading all of `stdin` gives its own error — never an unhandled
 * `write EPIPE` that takes the whole run down.
 */
export function runTool(
  cmd: string,
  args: string[],
  options: { stdin?: string | Buffer; cwd?: string } = {},
): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd });
    const input = options.stdin ?? '';
    const out: Buffer[] = [];
    let err = '';
    let unread: NodeJS.ErrnoException | undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 8192) err += b.toString('utf8');
    });
    // EPIPE/ECONNRESET: the tool is gone or closed its stdin. Reported with its exit below.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => (unread = e));
    child.on('error', (e) => reject(new Error(`${cmd} could not be started: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      const name = `${cmd} ${args
        .filter((a) => !a.startsWith('-'))
        .slice(-2)
        .join(' ')}`.trim();
      const stdinNote =
        unread && input.length > 0 ? ` before reading all of its ${input.length}-byte input (${unread.code ?? unread.message})` : '';
      if (code === 0 && !stdinNote) resolve({ stdout: Buffer.concat(out), stderr: err });
      else if (code === 0) reject(new Error(`${name} exited${stdinNote}${err.trim() ? `: ${err.trim()}` : ''}`));
      else reject(new Error(`${name} failed (${code ?? signal})${stdinNote}: ${err.trim()}`));
    });
    child.stdin.end(input);
  });
}

/** Resolves when `child` has exited (killing it first when asked). */
export function exited(child: ChildProcess, kill = false): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('close', () => resolve());
    if (kill) child.kill('SIGTERM');
  });
}

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

/** One row of the result table. */
export interface ScenarioResult {
  /** Key in bench-results.json. */
  key: string;
  /** Row label in the table. */
  label: string;
  /** 'ms' and 'bytes': lower is better; 'MB/s': higher is better. 'KB' for sizes. */
  unit: 'ms' | 'MB/s' | 'bytes' | 'KB' | 'MB';
  ours: number[];
  /** The reference (OpenSSH) measurements, same unit; absent where there is none. */
  reference?: number[];
  goal: string;
  /** Whether the goal is met (judged on the medians); null where there is no goal for this row. */
  met: boolean | null;
  /** Anything else worth keeping in the json (sizes, byte counts, what was measured). */
  extra?: Record<string, unknown>;
}

export interface BenchConfig {
  quick: boolean;
  /** Measured repetitions per scenario (after one warm-up). */
  reps: number;
  log(line: string): void;
  /** Set when the run measures across an emulated link (`--profiles`): every client of the env
   *  crosses it, so scenarios skip their own extra latency-proxy rows. */
  profile?: LinkProfile;
  /** Size of the upload/download copies, MB (default 200, 4 with --quick). */
  transferMb?: number;
}

/**
 * Run `ours` and `reference` alternately (the order flips every repetition, so slow phases of the
 * shared machine hit both), after one unmeasured warm-up of each. Each returns its measurement.
 */
export async function interleave(
  cfg: BenchConfig,
  ours: (rep: number) => Promise<number>,
  reference: ((rep: number) => Promise<number>) | undefined,
): Promise<{ ours: number[]; reference: number[] }> {
  const o: number[] = [];
  const r: number[] = [];
  await ours(-1);
  if (reference) await reference(-1);
  for (let i = 0; i < cfg.reps; i++) {
    if (i % 2 === 0 || !reference) {
      o.push(await ours(i));
      if (reference) r.push(await reference(i));
    } else {
      r.push(await reference(i));
      o.push(await ours(i));
    }
  }
  return { ours: o, reference: r };
}

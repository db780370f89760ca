/**
 * The text of a job's log panel: the header and footer around the job's own output, the cost of
 * a run, and the conversion of raw log bytes to what a terminal renders as a local one would
 * (a lone `\n` becomes `\r\n`; `\r` progress bars and ANSI colours pass through untouched; UTF-8
 * characters split across chunks are kept whole).
 */
import { StringDecoder } from 'node:string_decoder';
import { creditsToDollars, podRatePerHour, type PodCostFields, type PriceTable } from '../model/cost';
import { groupDigits } from '../util/format-number';
import { describeJobStatus, type JobInfo, type JobStatus } from './job-status';

const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RED = '\x1b[31m';
const GREEN = '\x1b[32m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';

/** Raw log bytes → terminal text. One instance per stream (it keeps state across chunks). */
export class TerminalText {
  private readonly decoder = new StringDecoder('utf8');
  private lastWasCr = false;
  private lastChar = '';

  push(chunk: Buffer): string {
    return this.convert(this.decoder.write(chunk));
  }

  /** Whatever incomplete character is left at the end of the stream. */
  end(): string {
    return this.convert(this.decoder.end());
  }

  /** True when the text written so far ends at the start of a line (after `\n`, or nothing yet). */
  get atLineStart(): boolean {
    return this.lastChar === '' || this.lastChar === '\n';
  }

  private convert(text: string): string {
    if (text === '') return '';
    let out = '';
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) !== 10) continue;
      const prevCr = i > 0 ? text.charCodeAt(i - 1) === 13 : this.lastWasCr;
      if (!prevCr) {
        out += text.slice(from, i) + '\r\n';
        from = i + 1;
      }
    }
    out += text.slice(from);
    this.lastWasCr = text.charCodeAt(text.length - 1) === 13;
    this.lastChar = text[text.length - 1];
    return out;
  }
}

/** Lone `\n` → `\r\n` for a one-off string (messages we write ourselves). */
export function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

/** 12 345 ms → "12.3 s"; 245 000 → "4 min 05 s"; 3 725 000 → "1 h 02 min". */
export function formatRunDuration(ms: number): string {
  if (!(ms >= 0)) return '?';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export interface RunCost {
  credits: number;
  dollars: number;
  ratePerHour: number;
}

/** What a run of `durationMs` cost on this pod: its hourly rate × the duration (pro rata). */
export function runCost(pod: PodCostFields, durationMs: number, prices?: PriceTable): RunCost | undefined {
  const rate = podRatePerHour(pod, prices);
  if (rate === undefined || !(durationMs >= 0)) return undefined;
  const credits = (rate * durationMs) / 3_600_000;
  return { credits, dollars: creditsToDollars(credits), ratePerHour: rate };
}

/** 0.4167 → "0.42 credits", 1234.5 → "1 235 credits". */
export function formatRunCredits(credits: number): string {
  if (credits < 100) return `${credits.toFixed(2)} credits`;
  return `${groupDigits(credits)} credits`;
}

/** 0.000278 → "$0.0003", 1.5 → "$1.50". */
export function formatRunDollars(dollars: number): string {
  return dollars < 0.01 ? `$${dollars.toFixed(4)}` : `$${dollars.toFixed(2)}`;
}

export interface LogHeaderInfo {
  jobId: string;
  podId: string;
  podName?: string;
  /** e.g. "rtx4090 × 1" */
  gpu?: string;
  command: string;
  cwd: string;
  startedAt: number;
  /** Set when the panel does not start at byte 0. */
  fromOffset?: number;
}

function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The panel's header, terminal-ready (`\r\n`). */
export function logHeader(h: LogHeaderInfo): string {
  const lines = [
    `${BOLD}kgpu job ${h.jobId}${RESET}`,
    `${DIM}pod      ${RESET}${h.podName ? `${h.podName} (${h.podId})` : h.podId}`,
    ...(h.gpu ? [`${DIM}GPU      ${RESET}${h.gpu}`] : []),
    `${DIM}command  ${RESET}${h.command}`,
    `${DIM}in       ${RESET}${h.cwd}`,
    `${DIM}started  ${RESET}${localTime(h.startedAt)}`,
  ];
  if (h.fromOffset && h.fromOffset > 0)
    lines.push(`${DIM}(showing the log from byte ${groupDigits(h.fromOffset)}; Show Job Log → From the Start for all of it)${RESET}`);
  lines.push(`${DIM}${'─'.repeat(60)}${RESET}`);
  return lines.join('\r\n') + '\r\n';
}

export interface LogFooterInfo {
  status: JobStatus;
  durationMs?: number;
  cost?: RunCost;
  /** More parts, e.g. `peak GPU memory 14.2/24 GiB` (issue 19's telemetry). */
  extra?: readonly string[];
  /** Write a line break first (the log did not end with one). */
  newlineFirst?: boolean;
  /** A torchrun job: its first failing rank ("rank 1 failed first: exit code 3"), said first. */
  rankFailure?: string;
}

/** The one-line ending of a run: how it ended, the duration and what it cost. */
export function footerSummary(f: LogFooterInfo): string {
  const parts = f.rankFailure ? [f.rankFailure, `torchrun: ${endLabel(f.status)}`] : [endLabel(f.status)];
  if (f.durationMs !== undefined) parts.push(formatRunDuration(f.durationMs));
  if (f.cost) parts.push(`${formatRunCredits(f.cost.credits)} (${formatRunDollars(f.cost.dollars)})`);
  if (f.extra) parts.push(...f.extra);
  return parts.join(' · ');
}

/** The panel's footer, terminal-ready. */
export function logFooter(f: LogFooterInfo): string {
  const colour = f.status.state === 'exited' && f.status.exitCode === 0 ? GREEN : f.status.state === 'running' ? YELLOW : RED;
  return `${f.newlineFirst ? '\r\n' : ''}${DIM}${'─'.repeat(60)}${RESET}\r\n${colour}${BOLD}■ ${footerSummary(f)}${RESET}\r\n`;
}

/** "exit code 0", "killed by SIGTERM (stopped)", "out of memory …". */
export function endLabel(status: JobStatus): string {
  switch (status.state) {
    case 'exited':
      return `exit code ${status.exitCode}`;
    case 'killed':
      return status.stoppedByUser ? `stopped (${status.signal})` : describeJobStatus(status);
    default:
      return describeJobStatus(status);
  }
}

/** How long a job ran (pod clock), if known. */
export function jobDurationMs(job: Pick<JobInfo, 'startedAt' | 'endedAt'>): number | undefined {
  if (job.startedAt === undefined || job.endedAt === undefined) return undefined;
  return Math.max(0, job.endedAt - job.startedAt);
}

/** A job's tree label suffix: "running", "exit 0", "exit 1", "stopped", "killed", "out of memory". */
export function shortJobState(status: JobStatus): string {
  switch (status.state) {
    case 'running':
      return 'running';
    case 'exited':
      return `exited with code ${status.exitCode}`;
    case 'killed':
      return status.stoppedByUser
        ? 'stopped'
        : status.possiblyOom
          ? `killed (${status.signal}, possibly out of memory)`
          : `killed (${status.signal})`;
    case 'oom':
      return 'out of memory';
    case 'lost':
      return 'lost';
  }
}

/** `job.running` · `job.exited` (any exit code) · `job.killed` · `job.oom` · `job.lost`. */
export function jobContextValue(status: JobStatus): string {
  return `job.${status.state}`;
}

/** A job that ran out of memory, or was killed the way the OOM killer kills (SIGKILL we did not send). */
export function looksOutOfMemory(status: JobStatus): boolean {
  return status.state === 'oom' || (status.state === 'killed' && status.possiblyOom);
}

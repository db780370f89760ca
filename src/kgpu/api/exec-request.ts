/**
 * `kgpu: Run Command…` without the editor: the typed line becomes an argv (shell-like quoting via
 * shell-quote's `parse`; no shell runs it, so pipes, redirections, globs and variables are refused
 * with a hint to use `bash -c '…'`), limits are checked before sending (stdin ≤ 1 MiB, timeout
 * 1–300 s), `POST /pods/{id}/exec` runs it, and the result is told plainly — including when the
 * output was cut at 1 MiB or the timeout killed the command, pointing to the terminal.
 */
import { parse } from 'shell-quote';
import type { ExecRequest, ExecResponse } from './api-types';
import { KgpuError } from '../util/kgpu-error';

export const EXEC_MAX_STDIN_BYTES = 1024 * 1024;
export const EXEC_MAX_OUTPUT_BYTES = 1024 * 1024;
export const EXEC_DEFAULT_TIMEOUT_S = 60;
export const EXEC_MAX_TIMEOUT_S = 300;

const BASH_HINT =
  "There is no shell here: the command runs as a plain argv. For pipes, redirections, globs or variables, wrap it: bash -c '…'";

export type ParsedCommand = { argv: string[]; error?: undefined } | { argv?: undefined; error: string };

/** "python -c 'print(1)'" → ["python", "-c", "print(1)"]; an error sentence for what a shell would have done. */
export function parseCommandLine(line: string): ParsedCommand {
  const r = parseWords(line, BASH_HINT);
  if (r.argv && r.argv.length === 0) return { error: 'Type a command to run, e.g. nvidia-smi.' };
  return r;
}

const ARGS_HINT = 'Script arguments are passed as they are, without a shell; quote them as you would in a shell';

/** A script's arguments line ("--lr 0.1 --name 'run 2'") → argv; empty → []. */
export function parseArgumentLine(line: string): ParsedCommand {
  return parseWords(line, ARGS_HINT);
}

function parseWords(line: string, hint: string): ParsedCommand {
  if (line.includes('\0')) return { error: 'The command contains a NUL character.' };
  const vars: string[] = [];
  let entries: ReturnType<typeof parse>;
  try {
    entries = parse(line, (name: string) => {
      vars.push(name);
      return `$${name}`;
    });
  } catch (e) {
    return { error: `Could not read the command: ${e instanceof Error ? e.message : String(e)}` };
  }
  const argv: string[] = [];
  for (const e of entries) {
    if (typeof e === 'string') {
      argv.push(e);
      continue;
    }
    if ('comment' in e) continue;
    if ('op' in e && e.op === 'glob') return { error: `"${e.pattern}" would not be expanded. ${hint}.` };
    if ('op' in e) return { error: `"${e.op}" is a shell operator. ${hint}.` };
    return { error: `Unsupported syntax in the command. ${hint}.` };
  }
  if (vars.length) return { error: `$${vars[0]} would not be expanded. ${hint} (or quote it in single quotes to pass it literally).` };
  return { argv };
}

export interface ExecInput {
  argv: readonly string[];
  stdin?: string;
  /** Seconds, 1–300 (default 60). */
  timeoutSeconds?: number;
}

/** The request body, or why it cannot be sent (checked before anything goes over the wire). */
export function buildExecRequest(input: ExecInput): { request?: ExecRequest; error?: string } {
  const timeout = input.timeoutSeconds ?? EXEC_DEFAULT_TIMEOUT_S;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > EXEC_MAX_TIMEOUT_S) {
    return {
      error: `The timeout must be a whole number of seconds from 1 to ${EXEC_MAX_TIMEOUT_S} (got ${timeout}). For longer work, use kgpu: Open Terminal or run it as a job.`,
    };
  }
  if (input.stdin !== undefined) {
    const size = Buffer.byteLength(input.stdin, 'utf8');
    if (size > EXEC_MAX_STDIN_BYTES) {
      return {
        error: `The input is ${size.toLocaleString('en-US')} bytes; Run Command takes at most 1 MiB of stdin. Upload the data to the pod (kgpu: Upload…) and read it from a file instead.`,
      };
    }
  }
  if (input.argv.length === 0) return { error: 'Type a command to run, e.g. nvidia-smi.' };
  return { request: { cmd: [...input.argv], stdin: input.stdin ?? null, timeout_seconds: timeout } };
}

export interface ExecOutcome {
  response: ExecResponse;
  /** The command ran into its timeout and was killed. */
  timedOut: boolean;
  truncated: boolean;
  /** One line for a notification: "exit code 0 in 1.2 s". */
  summary: string;
  /** Plain-language notes (truncation, timeout), each pointing to the terminal. */
  notes: string[];
}

/** Did the command hit its timeout? The service kills it and returns what it had. */
export function hitTimeout(response: ExecResponse, timeoutSeconds: number): boolean {
  if (/killed after the \d+ s timeout/.test(response.stderr)) return true;
  return response.exit_code !== 0 && response.duration_ms >= timeoutSeconds * 1000 - 50;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function describeExecResult(response: ExecResponse, timeoutSeconds: number): ExecOutcome {
  const timedOut = hitTimeout(response, timeoutSeconds);
  const notes: string[] = [];
  if (response.truncated)
    notes.push(
      'The output was truncated at 1 MiB (stdout and stderr together). For more output, use kgpu: Open Terminal, or redirect it to a file in the pod and download it.',
    );
  if (timedOut)
    notes.push(
      `The command was killed when it hit the ${timeoutSeconds} s timeout (Run Command allows at most ${EXEC_MAX_TIMEOUT_S} s). For longer work, use kgpu: Open Terminal or run it as a job.`,
    );
  const summary = `${timedOut ? 'killed by the timeout' : `exit code ${response.exit_code}`} in ${seconds(response.duration_ms)}${response.truncated ? ', output truncated at 1 MiB' : ''}`;
  return { response, timedOut, truncated: response.truncated, summary, notes };
}

/** The text for the "kgpu: exec" output channel. */
export function formatExecReport(podLabel: string, argv: readonly string[], outcome: ExecOutcome): string {
  const { response } = outcome;
  const lines = [
    `$ ${argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}    (${podLabel})`,
  ];
  if (response.stdout) lines.push(response.stdout.replace(/\n$/, ''));
  if (response.stderr) lines.push('[stderr]', response.stderr.replace(/\n$/, ''));
  lines.push(`[${outcome.summary}]`);
  for (const n of outcome.notes) lines.push(`[note] ${n}`);
  return lines.join('\n') + '\n';
}

/** The REST call, as the client exposes it. */
export interface ExecApi {
  exec(podId: string, req: ExecRequest, o?: { signal?: AbortSignal }): Promise<ExecResponse>;
}

/** Validate, send, describe. Throws an Error with the validation message when the input is refused. */
export async function runExec(api: ExecApi, podId: string, input: ExecInput, signal?: AbortSignal): Promise<ExecOutcome> {
  const built = buildExecRequest(input);
  if (!built.request) throw new ExecInputError(built.error ?? 'Invalid command.');
  const response = await api.exec(podId, built.request, { signal });
  return describeExecResult(response, built.request.timeout_seconds ?? EXEC_DEFAULT_TIMEOUT_S);
}

export class ExecInputError extends KgpuError {
  constructor(message: string) {
    super('api', 'exec_input', message);
    this.name = new.target.name;
  }
}

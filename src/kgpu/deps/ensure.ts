/**
 * Installing a project's dependencies in the pod: pod/deps.py, placed by content hash in the same
 * exec (one round trip), run with kgpu.python. Its output (the installer's, line by line) is
 * handed on as it comes; a failure rejects with the installer's own error.
 */
import { quoteArgv } from '../util/shell-quote';
import type { PodCommands } from '../ssh/pod-commands';
import { loadPodScript, placeScriptShell, type PodScript } from '../warm';
import type { DepsPlan } from './plan';

export type DepsState = 'installed' | 'reused';

export interface EnsureDepsOptions {
  /** Each line of progress and of the installer's output. */
  onOutput?(line: string): void;
  signal?: AbortSignal;
  /** pod/deps.py (tests may pass another copy). */
  script?: PodScript;
}

export class DepsInstallError extends Error {
  constructor(
    message: string,
    /** The last lines of the installer's output. */
    readonly output: readonly string[],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

const RESULT = /^KGPU-DEPS (ready (installed|reused)|failed (.*))$/;
/** Lines of output kept for the error (the installer's tail). */
const KEEP = 60;
/** Longest line handed on (characters). */
const MAX_LINE = 8192;

async function runDepsScript(
  pod: PodCommands,
  plan: DepsPlan,
  args: string[],
  what: string,
  options: EnsureDepsOptions,
): Promise<DepsState> {
  const script = options.script ?? loadPodScript('deps.py');
  const line = quoteArgv(['sh', '-c', `${placeScriptShell(script)}\nexec "$0" "$f" "$@"`, plan.basePython, ...args]);
  const s = await pod.execStream(line, { signal: options.signal });
  s.stdin.end(script.source);
  const tail: string[] = [];
  let result: RegExpExecArray | undefined;
  let pending = '';
  const onLine = (l: string): void => {
    const m = RESULT.exec(l);
    if (m) {
      result = m;
      return;
    }
    if (l.length > 500) l = `${l.slice(0, 500)}…`;
    tail.push(l);
    if (tail.length > KEEP) tail.shift();
    options.onOutput?.(l);
  };
  s.stdout.setEncoding('utf8');
  s.stdout.on('data', (d: string) => {
    pending += d;
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, i).replace(/\r$/, ''));
      pending = pending.slice(i + 1);
    }
    // Pod output is bounded: a line without an end is handed on in pieces.
    if (pending.length > MAX_LINE) {
      onLine(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  });
  let stderr = '';
  s.stderr.setEncoding('utf8');
  s.stderr.on('data', (d: string) => {
    if (stderr.length < 16_384) stderr += d;
  });
  const ended = new Promise<void>((resolve) => s.stdout.once('end', resolve).once('close', resolve));
  const status = await s.done;
  await ended;
  if (pending) onLine(pending);
  if (result?.[2]) return result[2] as DepsState;
  const why = result?.[3] ?? (stderr.trim() || `${plan.basePython} exited with ${status.exitCode ?? status.signal}`);
  throw new DepsInstallError(`Could not install ${what} in the pod: ${why.length > 2000 ? `${why.slice(0, 2000)}…` : why}`, tail);
}

/**
 * Make sure the plan's environment is installed (the same for Run, Debug and Notebook): reused
 * while its dependency files are unchanged, else made anew with `uv` or venv + pip.
 */
export function ensureDeps(pod: PodCommands, plan: DepsPlan, options: EnsureDepsOptions = {}): Promise<DepsState> {
  return runDepsScript(pod, plan, ['ensure', plan.venvDir, plan.projectDir, plan.hash], plan.files.join(', '), options);
}

/** Install packages into the plan's (installed) environment — e.g. a module a job missed. */
export async function installPackages(
  pod: PodCommands,
  plan: DepsPlan,
  packages: readonly string[],
  options: EnsureDepsOptions = {},
): Promise<void> {
  for (const p of packages)
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([<>=!~]=?[A-Za-z0-9.*+!_-]+)?$/.test(p))
      throw new DepsInstallError(`"${p}" is not a package name kgpu installs.`, []);
  await runDepsScript(pod, plan, ['add', plan.venvDir, plan.projectDir, ...packages], packages.join(' '), options);
}

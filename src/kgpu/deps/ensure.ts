/**
 * Installing a project's dependencies in the pod: pod/deps.py, placed by content hash in the same
 * exec (one round trip), run with kgpu.python. Its output (the installer's, line by line) is
 * handed on as it comes; a failure rejects with the installer's own error.
 */
import { quoteArgv } from '../util/shell-quote';
import type { PodCommands } from '../ssh/pod-commands';
import { jobEnvExports, loadPodScript, placeScriptShell, PLAIN_INTERPRETER, type PodScript } from '../warm';
import type { DepsPlan } from './plan';
import { KgpuError } from '../util/kgpu-error';

export type DepsState = 'installed' | 'reused';

export interface EnsureDepsOptions {
  /** Each line of progress and of the installer's output. */
  onOutput?(line: string): void;
  signal?: AbortSignal;
  /** pod/deps.py (tests may pass another copy). */
  script?: PodScript;
  /** kgpu.env, as jobs get it (e.g. a private index's PIP_INDEX_URL with its token): on the exec's
   *  stdin, never on a command line; its values are masked in the output handed on and in errors. */
  env?: Record<string, string>;
}

export class DepsInstallError extends KgpuError {
  constructor(
    message: string,
    /** The last lines of the installer's output. */
    readonly output: readonly string[],
  ) {
    super('deps', 'install_failed', message);
    this.name = new.target.name;
  }
}

/** Values shorter than this are not masked (a flag like "1" is no secret, and masking it would
 *  garble every line). */
const MIN_SECRET = 4;

/** `text` with every kgpu.env value replaced by ***. */
export function maskEnvValues(text: string, env: Record<string, string> | undefined): string {
  for (const v of Object.values(env ?? {})) if (v.length >= MIN_SECRET) text = text.split(v).join('***');
  return text;
}

const RESULT = /^KGPU-DEPS (ready (installed|reused)|failed (.*)|none)$/;
/** `find`'s answer before the install: the environment and its project folder. */
const FOUND = /^KGPU-DEPS venv (\/\S*) (\/.*)$/;
/** Lines of output kept for the error (the installer's tail). */
const KEEP = 60;
/** Longest line handed on (characters). */
const MAX_LINE = 8192;

async function runDepsScript(
  pod: PodCommands,
  python: string,
  args: string[],
  what: string,
  options: EnsureDepsOptions,
  found?: (venvDir: string, projectDir: string) => void,
): Promise<DepsState | 'none'> {
  const script = options.script ?? loadPodScript('deps.py');
  // The first line of stdin: kgpu.env as base64 `export` lines (as a warm start's server gets it).
  const line = quoteArgv([
    'sh',
    '-c',
    // The environment first: the placement's own variables (f) come after it, so a kgpu.env entry
    // of that name cannot redirect what runs.
    `IFS= read -r kgpu_e || exit 6\neval "$(printf '%s' "$kgpu_e" | base64 -d)" || exit 6\nunset kgpu_e\n${placeScriptShell(script)}\nexec "$0" "$f" "$@"`,
    python,
    ...args,
  ]);
  const exports = Buffer.from(jobEnvExports(options.env ?? {}), 'utf8').toString('base64');
  const s = await pod.execStream(line, { signal: options.signal });
  s.stdin.end(Buffer.concat([Buffer.from(`${exports}\n`), script.source]));
  const tail: string[] = [];
  let result: RegExpExecArray | undefined;
  let pending = '';
  const onLine = (l: string): void => {
    l = maskEnvValues(l, options.env);
    const f = FOUND.exec(l);
    if (f) {
      found?.(f[1], f[2]);
      return;
    }
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
  if (result?.[1] === 'none') return 'none';
  const why = result?.[3] ?? (maskEnvValues(stderr.trim(), options.env) || `${python} exited with ${status.exitCode ?? status.signal}`);
  throw new DepsInstallError(`Could not install ${what} in the pod: ${why.length > 2000 ? `${why.slice(0, 2000)}…` : why}`, tail);
}

/**
 * Make sure the plan's environment is installed (the same for Run, Debug and Notebook): reused
 * while its dependency files are unchanged, else made anew with `uv` or venv + pip.
 */
export async function ensureDeps(pod: PodCommands, plan: DepsPlan, options: EnsureDepsOptions = {}): Promise<DepsState> {
  const state = await runDepsScript(
    pod,
    plan.basePython,
    ['ensure', plan.venvDir, plan.projectDir, plan.hash],
    plan.files.join(', '),
    options,
  );
  if (state === 'none') throw new DepsInstallError('Could not install the dependencies in the pod: pod/deps.py answered none.', []);
  return state;
}

/**
 * For a file already in the pod (a kgpu:// editor): the nearest folder from the file's up to
 * `root` (the pod folder the file belongs to) with dependency files, found in the pod and hashed
 * there as depsPlan hashes a synced folder (the same bytes: the same environment), made sure of
 * as ensureDeps does. Undefined when there are none (or kgpu.python is a command).
 */
export async function ensurePodDeps(
  pod: PodCommands,
  input: { file: string; root: string; python: string; venvsRoot: string },
  options: EnsureDepsOptions = {},
): Promise<{ venvDir: string; projectDir: string; python: string; state: DepsState } | undefined> {
  const python = input.python.trim() || 'python';
  if (!PLAIN_INTERPRETER.test(python) || !input.file.startsWith('/') || !input.root.startsWith('/')) return undefined;
  let venv: { venvDir: string; projectDir: string } | undefined;
  const dir = input.file.replace(/\/[^/]*$/, '') || '/';
  const state = await runDepsScript(
    pod,
    python,
    ['find', dir, input.root, python, input.venvsRoot],
    'the dependency files',
    options,
    (venvDir, projectDir) => {
      venv = { venvDir, projectDir };
    },
  );
  if (state === 'none' || !venv) return undefined;
  return { ...venv, python: `${venv.venvDir}/bin/python`, state };
}

/** Install packages into the plan's (installed) environment — e.g. a module a job missed. */
export async function installPackages(
  pod: PodCommands,
  plan: DepsPlan,
  packages: readonly string[],
  options: EnsureDepsOptions = {},
): Promise<void> {
  checkPackages(packages);
  await runDepsScript(pod, plan.basePython, ['add', plan.venvDir, plan.projectDir, ...packages], packages.join(' '), options);
}

/** Install packages with an interpreter itself (`python -m pip install`, or `uv pip install
 *  --python`) — with kgpu.installDependencies off, into the user's own kgpu.python. */
export async function installWithPython(
  pod: PodCommands,
  python: string,
  cwd: string,
  packages: readonly string[],
  options: EnsureDepsOptions = {},
): Promise<void> {
  checkPackages(packages);
  if (!PLAIN_INTERPRETER.test(python))
    throw new DepsInstallError(`kgpu.python "${python}" is a command: install ${packages.join(' ')} with it yourself.`, []);
  await runDepsScript(pod, python, ['pip', python, cwd, ...packages], packages.join(' '), options);
}

function checkPackages(packages: readonly string[]): void {
  for (const p of packages)
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([<>=!~]=?[A-Za-z0-9.*+!_-]+)?$/.test(p))
      throw new DepsInstallError(`"${p}" is not a package name kgpu installs.`, []);
}

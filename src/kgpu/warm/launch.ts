/**
 * The warm start inside a job's ONE start exec: START_SCRIPT (job-wrapper.ts) creates the job's
 * directory and environment as always, then — where it would launch the cold wrapper — this code
 * asks the pod's fork server to fork the job (pod/forkserver.py's client(): connect, send, go-ahead)
 * and, on any failure, launches the cold wrapper right there. A warm run costs no extra round
 * trip; a run without a server costs a `test -S`. The start's stderr then carries one line:
 * `KGPU-START warm` or `KGPU-START cold <code> <reason>`.
 */
import { COLD_LAUNCH, JOB_END_SCRIPT } from '../jobs/job-wrapper';
import { quote, quoteArgv } from '../util/shell-quote';
import { MODULE_NAME, PLAIN_INTERPRETER, RESOLVE_SHELL } from './pod-shell';
import { POD_PRIVATE_DIR } from './place-script';
import type { PodScript } from './pod-script';

export interface WarmRun {
  /** kgpu.python: a warm start needs a plain interpreter ("python", "/opt/venv/bin/python"). */
  python: string;
  /** The script as the job's command line gives it to python (relative to cwd). */
  script: string;
  args: readonly string[];
  /** The job's working directory in the pod. */
  cwd: string;
  /** kgpu.env (the job's environment beyond the pod's own). */
  env: Record<string, string>;
  /** Packages to preload besides those the script imports (kgpu.warmStartPreload). */
  preload?: readonly string[];
}

/** How a job was started, from its start command's output. */
export type StartMode = { warm: true } | { warm: false; code: string; reason: string };

/** What the log header says: "warm start" / "cold start (no fork server yet)". */
export function describeStartMode(mode: StartMode): string {
  return mode.warm ? 'warm start' : `cold start (${mode.reason})`;
}

/** A reason this run cannot start warm whatever the pod holds, or undefined. */
export function warmUnsupported(run: WarmRun): string | undefined {
  const py = run.python.trim();
  if (!PLAIN_INTERPRETER.test(py)) return `kgpu.python "${py}" is not a plain interpreter`;
  if (run.script.startsWith('-')) return `the script's name starts with "-"`;
  return undefined;
}

/** The preload list as the pod gets it (valid module names only). */
export function preloadList(preload: readonly string[] | undefined): string {
  return [...new Set((preload ?? []).map((m) => m.trim()).filter((m) => MODULE_NAME.test(m)))].join(',');
}

/** Shell for startScript(): try the fork server, else COLD_LAUNCH. */
export function warmLaunchShell(script: PodScript, run: WarmRun): string {
  if (warmUnsupported(run)) throw new Error(warmUnsupported(run));
  const py = quote(run.python.trim());
  // The client imports the placed module (its bytecode is cached in the pod) rather than running
  // it as a script (compiled on every run). "$kgpu_F" "$kgpu_i" "$kgpu_d" "$kgpu_cwd" are the shell's own variables.
  const importer = quote(
    `import sys; sys.path.insert(0, sys.argv[1]); from ${script.module} import client; sys.exit(client(sys.argv[2:]))`,
  );
  const client = [
    importer,
    '"$kgpu_F"',
    '"$kgpu_F"',
    // The interpreter's path: the client derives the server's key from it (kgpu_key's sha256, without
    // the two execs of sha256sum and cut), and says "none …" (or why) when no server listens.
    '"$kgpu_i"',
    quote(script.hash),
    '"$kgpu_d"',
    '"$kgpu_cwd"',
    quoteArgv([run.python.trim(), JOB_END_SCRIPT, preloadList(run.preload), '--', run.script, ...run.args]),
  ].join(' ');
  return [
    `cold() { ${COLD_LAUNCH}; }`,
    RESOLVE_SHELL,
    // In this shell (no subshell of its own: each fork costs the run's path): sets kgpu_m, the
    // client's answer or why not; its status is the client's. Its variables are kgpu_*: the job's
    // environment (exported above) keeps every other name as the user set it.
    'kgpu_warm() {',
    `  kgpu_F="${POD_PRIVATE_DIR}"; kgpu_f="$kgpu_F/${script.podName}"`,
    '  if [ -L "$kgpu_F" ] || [ ! -d "$kgpu_F" ] || [ ! -O "$kgpu_F" ] || [ ! -f "$kgpu_f" ]; then kgpu_m="none no fork server yet"; return 1; fi',
    `  kgpu_py ${py} "$kgpu_cwd" && [ -f "$kgpu_i" ] && [ -x "$kgpu_i" ] || { kgpu_m="unsupported "${py}" is not an interpreter in the pod"; return 1; }`,
    // No server of any interpreter: cold without starting Python (the why file says why, if one stopped).
    '  set -- "$kgpu_F"/fs-*.sock',
    '  if [ ! -S "$1" ]; then kgpu_w=$(head -n 1 "$kgpu_F/fs-$(kgpu_key "$kgpu_i").why" 2>/dev/null | cut -c1-300); kgpu_m="${kgpu_w:-none no fork server yet}"; return 1; fi',
    `  kgpu_m=$(cd "$kgpu_cwd" && exec "$kgpu_i" -I -S -c ${client} 2>/dev/null)`,
    '}',
    `if kgpu_warm; then printf 'KGPU-START %s\\n' "$kgpu_m" >&2`,
    `else cold; printf 'KGPU-START cold %s\\n' "\${kgpu_m:-client the fork server's client failed}" >&2; fi`,
  ].join('\n');
}

const START_LINE = /^KGPU-START (warm|cold (\S+) (.*))$/gm;

/** The start mode a start command reported on stderr (the last such line), if any. */
export function parseStartMode(stderr: string): StartMode | undefined {
  let mode: StartMode | undefined;
  for (const m of stderr.matchAll(START_LINE)) mode = m[1] === 'warm' ? { warm: true } : { warm: false, code: m[2], reason: m[3].trim() };
  return mode;
}

/** Cold codes after which the client should start a fork server (none is there, or it is gone). */
export function wantsServer(mode: StartMode | undefined): boolean {
  return !!mode && !mode.warm && ['none', 'dead', 'client', 'refused', 'outdated'].includes(mode.code);
}

/**
 * Starting (or finding) a notebook's kernel in the pod: ONE exec places pod/kernel_bridge.py by
 * content hash (in the pod's private /tmp/kgpu-<uid>, like the agent and the fork server) and runs
 * its `start`, which either finds the bridge already serving this kernel id (a reattach after a
 * reload or a dropped connection) or starts a detached bridge (own session, not tied to the SSH
 * channel) that starts an IPython kernel with `cwd` as its working directory and reports once the
 * kernel answers. The reply is one JSON line.
 */
import { createHash } from 'node:crypto';
import { parseArgumentLine } from '../api/exec-request';
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import { loadPodScript, placeScriptShell, type PodScript } from '../warm';
import { KgpuError } from '../util/kgpu-error';

export const KERNEL_BRIDGE_SCRIPT = 'kernel_bridge.py';

export interface KernelStartOptions {
  /** The kernel's working directory in the pod (the notebook's folder). */
  cwd: string;
  /** Names the kernel: the same id finds the same running kernel (see kernelIdFor). */
  kernelId: string;
  /** kgpu.env: added to the kernel's environment. Secrets: sent on the exec's stdin (one JSON line
   *  before the bridge's bytes), never in a command line; a kernel already running keeps its own. */
  env?: Readonly<Record<string, string>>;
  /** The kernel's interpreter: the project's (projectPython: its venv, or kgpu.python; a command
   *  such as `uv run python` is fine). When it cannot import ipykernel the kernel runs the pod's
   *  python3 and KernelStarted.fallback says why. Default: the pod's python3. */
  python?: string;
  /** Records kept for a disconnected editor, in bytes (default 64 MiB in the bridge). */
  maxBytes?: number;
  /** The bridge program (default: the shipped pod/kernel_bridge.py). */
  script?: PodScript;
  signal?: AbortSignal;
}

export interface KernelStarted {
  /** The bridge's Unix socket in the pod (reached through the pod agent). */
  socket: string;
  /** The bridge's pid in the pod. */
  pid: number;
  /** The kernel was already running (this is a reattach). */
  existing: boolean;
  /** What the kernel runs (a new kernel). */
  python?: string[];
  /** A new kernel runs the pod's python3 because the interpreter asked for has no ipykernel. */
  fallback?: { python: string; error: string };
}

/** kgpu.python (or a venv's interpreter) as the kernel's argv prefix. */
export function kernelPythonArgv(python: string): string[] {
  const parsed = parseArgumentLine(python.trim() || 'python3');
  if (parsed.error !== undefined || !parsed.argv?.length)
    throw new KernelStartError(`kgpu.python ("${python}") is not a command: ${parsed.error ?? 'it is empty'}.`, 'bad-python');
  return parsed.argv;
}

/** The notebook's message when the kernel could not use the project's interpreter. */
export function fallbackMessage(f: { python: string; error: string }): string {
  return (
    `The project's interpreter (${f.python}) has no ipykernel (${f.error}), so this notebook's kernel runs the pod's python3, without the project's packages. ` +
    `To use the project's environment, add ipykernel to its dependencies (a line \`ipykernel\` in requirements.txt, or in pyproject.toml's dependencies) — ` +
    `or run \`${f.python} -m pip install ipykernel\` in the pod's terminal — then restart the kernel.`
  );
}

export class KernelStartError extends KgpuError {
  constructor(
    message: string,
    /** 'no-jupyter' (the image lacks ipykernel/jupyter_client), 'kernel-start', 'no-cwd', 'unsafe-dir', … (also its kind) */
    readonly code: string,
  ) {
    super('notebook', code, message);
    this.name = 'KernelStartError';
  }
}

/** A stable kernel id for a notebook: its path in the pod and the pod. */
export function kernelIdFor(podId: string, notebookPodPath: string): string {
  return createHash('sha256').update(`${podId}\0${notebookPodPath}`).digest('hex').slice(0, 16);
}

export function kernelBridgeScript(): PodScript {
  return loadPodScript(KERNEL_BRIDGE_SCRIPT);
}

/** The exec's shell: place the bridge, then `python3 <bridge> start`. */
export function kernelStartShell(script: PodScript, o: { cwd: string; kernelId: string; maxBytes?: number; python?: string }): string {
  if (!/^[0-9a-f]{16}$/.test(o.kernelId)) throw new Error(`bad kernel id ${o.kernelId}`);
  if (!o.cwd.startsWith('/')) throw new Error(`The kernel's folder must be an absolute pod path (got "${o.cwd}").`);
  const args = [
    'start',
    '--cwd',
    o.cwd,
    ...(o.maxBytes ? ['--max-bytes', String(o.maxBytes)] : []),
    ...(o.python ? ['--python-argv', JSON.stringify(kernelPythonArgv(o.python))] : []),
  ];
  return [
    // The first stdin line is the environment (JSON); the placement reads the rest. `read` takes
    // one byte at a time from a pipe, so nothing of the script is consumed with it.
    'IFS= read -r KGPU_KERNEL_ENV || KGPU_KERNEL_ENV="{}"; export KGPU_KERNEL_ENV',
    placeScriptShell(script),
    'P=$(command -v python3 || command -v python) || { echo \'{"ok":false,"code":"no-python","error":"The pod has no python3."}\'; exit 3; }',
    `exec "$P" "$f" --dir "$F/kernel-${o.kernelId}" ${quoteArgv(args)}`,
  ].join('\n');
}

/** Start the notebook's kernel in the pod, or find it running. */
export async function startKernel(pod: PodCommands, options: KernelStartOptions): Promise<KernelStarted> {
  const script = options.script ?? kernelBridgeScript();
  const line = quoteArgv(['sh', '-c', kernelStartShell(script, options)]);
  const envLine = Buffer.from(`${JSON.stringify(options.env ?? {})}\n`);
  const r = await pod.exec(line, { stdin: Buffer.concat([envLine, script.source]), signal: options.signal });
  const out = r.stdout.toString('utf8').trim().split('\n').pop() ?? '';
  let reply:
    | {
        ok?: boolean;
        code?: string;
        error?: string;
        socket?: string;
        pid?: number;
        existing?: boolean;
        python?: unknown;
        fallback?: { python?: unknown; error?: unknown } | null;
      }
    | undefined;
  try {
    reply = JSON.parse(out) as typeof reply;
  } catch {
    reply = undefined;
  }
  if (!reply || typeof reply !== 'object') {
    const why = r.stderr.toString('utf8').trim().slice(-2000) || `exit ${r.exitCode ?? r.signal}`;
    throw new KernelStartError(`The notebook kernel could not be started in the pod: ${why}`, 'start-failed');
  }
  if (!reply.ok || typeof reply.socket !== 'string' || typeof reply.pid !== 'number') {
    throw new KernelStartError(reply.error ?? 'The notebook kernel could not be started in the pod.', reply.code ?? 'start-failed');
  }
  const python = Array.isArray(reply.python) && reply.python.every((w) => typeof w === 'string') ? (reply.python as string[]) : undefined;
  const fb = reply.fallback;
  return {
    socket: reply.socket,
    pid: reply.pid,
    existing: reply.existing === true,
    ...(python ? { python } : {}),
    ...(fb && typeof fb.python === 'string' ? { fallback: { python: fb.python, error: String(fb.error ?? '') } } : {}),
  };
}

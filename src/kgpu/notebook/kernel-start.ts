/**
 * Starting (or finding) a notebook's kernel in the pod: ONE exec places pod/kernel_bridge.py by
 * content hash (in the pod's private /tmp/kgpu-<uid>, like the agent and the fork server) and runs
 * its `start`, which either finds the bridge already serving this kernel id (a reattach after a
 * reload or a dropped connection) or starts a detached bridge (own session, not tied to the SSH
 * channel) that starts an IPython kernel with `cwd` as its working directory and reports once the
 * kernel answers. The reply is one JSON line.
 */
import { createHash } from 'node:crypto';
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import { loadPodScript, placeScriptShell, type PodScript } from '../warm';

export const KERNEL_BRIDGE_SCRIPT = 'kernel_bridge.py';

export interface KernelStartOptions {
  /** The kernel's working directory in the pod (the notebook's folder). */
  cwd: string;
  /** Names the kernel: the same id finds the same running kernel (see kernelIdFor). */
  kernelId: string;
  /** kgpu.env: added to the kernel's environment. Secrets: sent on the exec's stdin (one JSON line
   *  before the bridge's bytes), never in a command line; a kernel already running keeps its own. */
  env?: Readonly<Record<string, string>>;
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
}

export class KernelStartError extends Error {
  constructor(
    message: string,
    /** 'no-jupyter' (the image lacks ipykernel/jupyter_client), 'kernel-start', 'no-cwd', 'unsafe-dir', … */
    readonly code: string,
  ) {
    super(message);
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
export function kernelStartShell(script: PodScript, o: { cwd: string; kernelId: string; maxBytes?: number }): string {
  if (!/^[0-9a-f]{16}$/.test(o.kernelId)) throw new Error(`bad kernel id ${o.kernelId}`);
  if (!o.cwd.startsWith('/')) throw new Error(`The kernel's folder must be an absolute pod path (got "${o.cwd}").`);
  const args = ['start', '--cwd', o.cwd, ...(o.maxBytes ? ['--max-bytes', String(o.maxBytes)] : [])];
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
  let reply: { ok?: boolean; code?: string; error?: string; socket?: string; pid?: number; existing?: boolean } | undefined;
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
  return { socket: reply.socket, pid: reply.pid, existing: reply.existing === true };
}

/**
 * The pieces of a debug session in a pod that the launch (debug-job.ts: the program a job under
 * debugpy, attached to through pod/debug_relay.py) and the attach share, and the attach itself —
 * the `kgpu` debug type's `attach` request and kgpu: Attach Debugger: an agent TCP stream to
 * `127.0.0.1:<port>` in the pod, where a program called `debugpy.listen(port)` (e.g. a job started
 * with Run), a DapBridge over it and the path mapping.
 */
import type { AgentStream, AgentTarget } from '../agent/agent-stream';
import { AgentOpenError } from '../agent/errors';
import { parseArgumentLine } from '../api/exec-request';
import { RunError, type RunPlan } from '../jobs/job-runner';
import { ConnectionLostError, SshAbortedError, SshError } from '../ssh/ssh-errors';
import type { SyncResult } from '../transfer/sync';
import { DapBridge } from './dap-bridge';
import { PodPathMap } from './path-map';

/** What opens streams in the pod (an AgentClient). */
export interface StreamOpener {
  openStream(target: AgentTarget, options?: { signal?: AbortSignal }): Promise<AgentStream>;
  /** Start the agent now, if it is not running (AgentClient.start), so a later open needs no new connection. */
  start?(options?: { signal?: AbortSignal }): Promise<void>;
}

interface CommonSpec {
  podId: string;
  agent: StreamOpener;
  /** kgpu.python (a command prefix, e.g. "python"). */
  python: string;
  justMyCode?: boolean;
  signal?: AbortSignal;
}

export interface AttachSpec extends CommonSpec {
  request: 'attach';
  /** The port debugpy.listen() was given, on the pod's loopback. */
  port: number;
  /** The local folder whose copy the program runs from (for path mapping), and where it is in the pod. */
  localRoot?: string;
  remoteRoot?: string;
}

export type PodDebugSpec = AttachSpec;

export interface PodDebugSession {
  bridge: DapBridge;
  paths: PodPathMap;
  /** launch: what runs (command line as Run would show it, cwd, remote folder). */
  plan?: RunPlan;
  /** launch of a local file: the sync's result. */
  synced?: SyncResult;
  /** The program's path in the pod (launch). */
  remoteProgram?: string;
}

export class DebugStartError extends RunError {}

/** kgpu.python as an argv (a shell-like prefix). */
export function pythonArgv(python: string): string[] {
  const parsed = parseArgumentLine(python.trim() || 'python');
  if (parsed.error !== undefined || !parsed.argv?.length)
    throw new DebugStartError(`kgpu.python ("${python}") is not a command: ${parsed.error ?? 'it is empty'}.`);
  return parsed.argv;
}

/** Attach to debugpy.listen() in the pod (a launch is a job: startDebugJob in debug-job.ts). */
export async function startPodDebug(spec: PodDebugSpec): Promise<PodDebugSession> {
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535)
    throw new DebugStartError(`"port" must be a TCP port number (got ${String(spec.port)}).`);
  const paths = new PodPathMap({ podId: spec.podId, localRoot: spec.localRoot, remoteRoot: spec.remoteRoot });
  let stream: AgentStream;
  try {
    stream = await spec.agent.openStream({ kind: 'tcp', host: '127.0.0.1', port: spec.port }, { signal: spec.signal });
  } catch (e) {
    if (e instanceof AgentOpenError) {
      throw new DebugStartError(
        `Nothing in pod ${spec.podId} listens on 127.0.0.1:${spec.port} (${e.message}). Start the program with \`import debugpy; debugpy.listen(${spec.port})\` (and \`debugpy.wait_for_client()\` to stop before it runs), e.g. with kgpu: Run Active File on GPU, then attach.`,
        { cause: e },
      );
    }
    throw e;
  }
  const bridge = new DapBridge({
    stream,
    paths,
    rewrite: (_command, editor) => ({
      name: typeof editor.name === 'string' ? editor.name : 'kgpu',
      type: 'python',
      request: 'attach',
      justMyCode: spec.justMyCode ?? true,
      showReturnValue: true,
    }),
    explainEnd: (info) => explainEnd(spec.podId, `port ${spec.port}`, info, true),
  });
  return { bridge, paths };
}

/** The debug console's line when the stream to debugpy ended before the session did. */
export function explainEnd(
  podId: string,
  python: string,
  info: { error?: Error; stderr: string; sawResponse: boolean },
  attach = false,
  /** A launched job left running on a drop (onDisconnect "keepRunning"). */
  keptJob?: string,
): string {
  if (info.error && info.error instanceof SshError && !(info.error instanceof SshAbortedError)) {
    // The error names the agent's stream (the adapter's whole argv): say what happened instead.
    const what = info.error instanceof ConnectionLostError ? 'was lost' : `failed (${info.error.message.split('\n')[0]!.slice(0, 200)})`;
    if (keptJob)
      return `kgpu: the connection to pod ${podId} ${what}. The debug session has ended; the program goes on running in the pod as job ${keptJob} ("onDisconnect": "keepRunning") — kgpu: Attach Debugger on the job reattaches, or stop it from the Rentals view.`;
    return attach
      ? `kgpu: the connection to pod ${podId} ${what}. The debug session has ended; the program goes on running without the debugger — attach again, or stop the job from the Rentals view.`
      : `kgpu: the connection to pod ${podId} ${what}. The debug session has ended and the program in the pod was stopped (debugpy ends it when its debugger goes away); debug again to restart it.`;
  }
  const tail = info.stderr.trim().split('\n').slice(-6).join('\n');
  const why = info.error ? `: ${info.error.message}` : '';
  return `kgpu: the debugger in pod ${podId} ended unexpectedly${why}.${tail ? `\n${tail}` : ''}`;
}

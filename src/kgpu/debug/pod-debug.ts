/**
 * Start one debug session of a file in a pod — the library half of "Debug Active File on GPU"
 * and of the `kgpu` debug type (src/debug/ is the editor half):
 *
 *  launch: the same sync as Run (changed files only, to /workspace/<folder>), then ONE pod agent
 *    stream to `python -m debugpy.adapter` (through pod/debug_adapter.py, sent with `-c`), and a
 *    DapBridge over it. The editor's `launch` request becomes debugpy's: the program, cwd and
 *    arguments as Run would use them, kgpu.python as the interpreter, kgpu.env and the
 *    configuration's env as the program's environment — inside the stream, never on a command
 *    line. debugpy starts the program (its own launcher) and sends its output as DAP events.
 *  attach: an agent TCP stream to `127.0.0.1:<port>` in the pod, where a program called
 *    `debugpy.listen(port)` (e.g. a job started with Run); the same bridge and path mapping.
 *
 * Why an agent stream to a process rather than a detached job: the adapter (and through it the
 * program) lives exactly as long as the stream, so a dropped connection ends the program instead
 * of leaving it paused at a breakpoint while billing runs (see pod/debug_adapter.py).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findExtensionRoot } from '../agent/agent-script';
import type { AgentStream, AgentTarget } from '../agent/agent-stream';
import { AgentOpenError } from '../agent/errors';
import { parseArgumentLine } from '../api/exec-request';
import { gitignoreLiteral, planRun, RunError, type RunPlan, type RunTarget } from '../jobs/job-runner';
import type { PodCommands } from '../ssh/pod-commands';
import { ConnectionLostError, SshAbortedError, SshError } from '../ssh/ssh-errors';
import { syncUp, type SyncProgress, type SyncResult } from '../transfer/sync';
import { DapBridge } from './dap-bridge';
import { PodPathMap } from './path-map';

/** What opens streams in the pod (an AgentClient). */
export interface StreamOpener {
  openStream(target: AgentTarget, options?: { signal?: AbortSignal }): Promise<AgentStream>;
}

interface CommonSpec {
  podId: string;
  agent: StreamOpener;
  /** kgpu.python (a command prefix, e.g. "python"). */
  python: string;
  justMyCode?: boolean;
  signal?: AbortSignal;
}

export interface LaunchSpec extends CommonSpec {
  request: 'launch';
  /** For the sync (local targets). */
  pod?: PodCommands;
  target: RunTarget;
  args: readonly string[];
  /** kgpu.env merged with the configuration's env: secrets, sent inside the stream only. */
  env: Record<string, string>;
  exclude?: readonly string[];
  remoteRoot?: string;
  syncStateDir?: string;
  stopOnEntry?: boolean;
  onSyncProgress?(p: SyncProgress): void;
}

export interface AttachSpec extends CommonSpec {
  request: 'attach';
  /** The port debugpy.listen() was given, on the pod's loopback. */
  port: number;
  /** The local folder whose copy the program runs from (for path mapping), and where it is in the pod. */
  localRoot?: string;
  remoteRoot?: string;
}

export type PodDebugSpec = LaunchSpec | AttachSpec;

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

export const DEBUG_ADAPTER_SHIM = path.join('pod', 'debug_adapter.py');
let shim: Promise<string> | undefined;

function loadShim(): Promise<string> {
  shim ??= readFile(path.join(findExtensionRoot(), DEBUG_ADAPTER_SHIM), 'utf8');
  shim.catch(() => (shim = undefined));
  return shim;
}

/** kgpu.python as an argv (a shell-like prefix). */
export function pythonArgv(python: string): string[] {
  const parsed = parseArgumentLine(python.trim() || 'python');
  if (parsed.error !== undefined || !parsed.argv?.length)
    throw new DebugStartError(`kgpu.python ("${python}") is not a command: ${parsed.error ?? 'it is empty'}.`);
  return parsed.argv;
}

export async function startPodDebug(spec: PodDebugSpec): Promise<PodDebugSession> {
  return spec.request === 'launch' ? startLaunch(spec) : startAttach(spec);
}

async function startLaunch(spec: LaunchSpec): Promise<PodDebugSession> {
  const python = pythonArgv(spec.python);
  const plan = planRun({
    target: spec.target,
    python: spec.python,
    args: spec.args,
    env: {},
    exclude: spec.exclude,
    remoteRoot: spec.remoteRoot,
  });
  let synced: SyncResult | undefined;
  const target = spec.target;
  if (target.kind === 'local' && plan.remoteDir) {
    if (!spec.pod) throw new DebugStartError('Debugging a local file needs a connection to sync it.');
    const exclude = target.onlyThisFile ? ['/*', `!/${gitignoreLiteral(path.basename(target.file))}`] : spec.exclude;
    try {
      synced = await syncUp(spec.pod, target.folder, plan.remoteDir, {
        exclude,
        stateDir: spec.syncStateDir,
        target: spec.podId,
        signal: spec.signal,
        onProgress: spec.onSyncProgress,
      });
    } catch (e) {
      if (e instanceof SshAbortedError) throw e;
      throw new DebugStartError(`Could not sync ${target.folder} to ${plan.remoteDir}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
  }
  const remoteProgram = path.posix.join(plan.cwd, plan.script);
  const paths = new PodPathMap({
    podId: spec.podId,
    localRoot: target.kind === 'local' ? target.folder : undefined,
    remoteRoot: plan.remoteDir,
  });
  const code = await loadShim();
  const stream = await spec.agent.openStream(
    { kind: 'process', argv: [...python, '-c', code, ...python, '-m', 'debugpy.adapter'], cwd: plan.cwd, stderr: 'pipe' },
    { signal: spec.signal },
  );
  const label = python.join(' ');
  const bridge = new DapBridge({
    stream,
    stderr: stream.stderr,
    paths,
    rewrite: (_command, editor, pod) => ({
      name: typeof editor.name === 'string' ? editor.name : 'kgpu',
      type: 'python',
      request: 'launch',
      program: remoteProgram,
      cwd: plan.cwd,
      args: [...spec.args],
      env: { ...spec.env },
      // The program runs under the whole kgpu.python (a wrapper such as `uv run python` sets up its
      // environment); debugpy's own launcher, which needs a plain interpreter, runs under the one
      // the wrapper resolves to (pod/debug_adapter.py reports it), not under the wrapper's first word.
      python,
      ...(pod.python ? { debugLauncherPython: pod.python } : {}),
      console: 'internalConsole',
      redirectOutput: true,
      justMyCode: spec.justMyCode ?? true,
      stopOnEntry: spec.stopOnEntry ?? false,
      showReturnValue: true,
      ...(editor.__restart !== undefined ? { __restart: editor.__restart } : {}),
    }),
    explainEnd: (info) => explainEnd(spec.podId, label, info),
  });
  return { bridge, paths, plan, synced, remoteProgram };
}

async function startAttach(spec: AttachSpec): Promise<PodDebugSession> {
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
  if (/No module named '?debugpy/.test(info.stderr)) {
    return `kgpu: debugpy is not installed for \`${python}\` in pod ${podId}. Install it there (\`${python} -m pip install debugpy\` in the pod's terminal, in the project's venv if it uses one) and debug again; kgpu's default image has it.`;
  }
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

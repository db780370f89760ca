/**
 * "Debug Active File on GPU" as a job (issue 21): the program runs exactly as Run runs it — the
 * same JobRunner.runFile (sync, the project's environment installed and its interpreter, torchrun
 * when the launcher says so, a detached job with its log, exit code and cost under the rental) —
 * with pod/debug_launch.py before the script: it calls debugpy.listen() on the pod's loopback in
 * rank 0 (every rank of a plain run is rank 0), writes the port to the log and waits for the
 * debugger. The editor attaches through ONE agent stream to pod/debug_relay.py, which relays to
 * that port and, when the stream ends (the session is over, the connection dropped), stops the
 * job — unless the user chose `onDisconnect: "keepRunning"`: then the job goes on, debugpy keeps
 * listening, and kgpu: Attach Debugger finds it again (debug-port.ts).
 *
 * Why a job and not a process tied to the stream (the earlier design, removed): a job is what the Rentals view, the log panel, Stop and the cost footer already know;
 * "keep running" needs the program to outlive the stream; torchrun is Run's launch line.
 */
import path from 'node:path';
import { DEFAULT_JOBS_ROOT, describeJobStatus, type JobInfo } from '../jobs/jobs';
import type { RunFileSpec, RunHandle } from '../jobs/job-runner';
import type { PodCommands } from '../ssh/pod-commands';
import { loadPodScript, placeScript } from '../warm';
import { DapBridge } from './dap-bridge';
import { PodPathMap } from './path-map';
import { DebugStartError, explainEnd, pythonArgv, type PodDebugSession, type StreamOpener } from './pod-debug';

export type OnDisconnect = 'stop' | 'keepRunning';

/** What runs jobs (the window's JobRunner). */
export interface JobStarter {
  runFile(spec: RunFileSpec): RunHandle;
  stop(podId: string, jobId: string): Promise<unknown>;
}

export interface DebugJobSpec extends Omit<RunFileSpec, 'onData' | 'scriptPrefix'> {
  agent: StreamOpener;
  runner: JobStarter;
  /** For placing pod/debug_launch.py (one exec). */
  pod: PodCommands;
  /** What a dropped connection does to the program (default "stop"). */
  onDisconnect?: OnDisconnect;
  /** The rank debugpy runs in under torchrun (default 0). */
  rank?: number;
  justMyCode?: boolean;
  /** Stop on the script's first line (launch.json stopOnEntry). */
  stopOnEntry?: boolean;
  jobsRoot?: string;
}

export interface DebugJobSession extends PodDebugSession {
  /** The job (under the rental, like a run's). */
  handle: RunHandle;
  /** The port debugpy listens on in the pod. */
  port: number;
}

/** The line pod/debug_launch.py writes to the job's log once debugpy listens. */
export const DEBUG_PORT_LINE = /\[kgpu\] debugpy waits for the debugger on 127\.0\.0\.1:(\d+) \(pid (\d+)\)/;

const RELAY_PYTHON = 'if command -v python3 >/dev/null 2>&1; then exec python3 "$@"; fi; exec python "$@"';

/** Start the job under debugpy and attach to it; resolves once the stream to debugpy is open. */
export async function startDebugJob(spec: DebugJobSpec): Promise<DebugJobSession> {
  const python = pythonArgv(spec.python);
  // The agent (a connection of its own) comes up while the launcher is placed, the folder syncs and
  // the job starts: the relay's stream then opens without a new connection after debugpy listens.
  // Its errors, if any, are the open's (openStream starts it again).
  spec.agent.start?.({ signal: spec.signal }).catch(() => undefined);
  const launcher = await placeScript(spec.pod, loadPodScript('debug_launch.py'), { signal: spec.signal });
  let bridge: DapBridge | undefined;
  const early: string[] = [];
  let text = '';
  let resolvePort!: (p: number) => void;
  const portSeen = new Promise<number>((r) => (resolvePort = r));
  const decoder = new TextDecoder();
  const { agent: _a, runner, pod: _p, onDisconnect: _o, rank, justMyCode: _j, stopOnEntry, jobsRoot: _r, ...run } = spec;
  const handle = runner.runFile({
    ...run,
    env: { ...spec.env, KGPU_DEBUG_RANK: String(rank ?? 0), ...(stopOnEntry ? { KGPU_DEBUG_STOP_ON_ENTRY: '1' } : {}) },
    scriptPrefix: [launcher],
    onData: (chunk) => {
      const s = decoder.decode(chunk, { stream: true });
      if (bridge) bridge.output(s);
      else early.push(s);
      if (text.length < 64 * 1024) {
        text += s;
        const m = DEBUG_PORT_LINE.exec(text);
        if (m) resolvePort(Number(m[1]));
      }
    },
  });
  const ended = handle.done.then((r) => r.job);
  const port = await Promise.race<number>([
    portSeen,
    ended.then((job: JobInfo) => {
      throw new DebugStartError(
        `The program ended (${describeJobStatus(job.status)}) before debugpy listened in pod ${spec.podId}:\n${text.trim().split('\n').slice(-8).join('\n')}`,
      );
    }),
    abortOf(spec.signal),
  ]).catch(async (e: unknown) => {
    // Nothing attaches to a job that waits for the debugger: stop it (if it started at all).
    const started = await handle.started.then(
      () => true,
      () => false,
    );
    if (started) await runner.stop(spec.podId, handle.jobId).catch(() => undefined);
    throw e;
  });
  const jobDir = path.posix.join(spec.jobsRoot ?? DEFAULT_JOBS_ROOT, handle.jobId);
  const plan = handle.plan;
  const remoteProgram = path.posix.join(plan.cwd, plan.script);
  const target = spec.target;
  const paths = new PodPathMap({
    podId: spec.podId,
    localRoot: target.kind === 'local' ? target.folder : undefined,
    remoteRoot: plan.remoteDir,
  });
  const code = loadPodScript('debug_relay.py').source.toString('utf8');
  const stream = await spec.agent.openStream(
    // The relay is stdlib-only: the pod's own python3 (kgpu.python may be a command such as
    // `conda run`, which would hold the relay's output back).
    {
      kind: 'process',
      argv: ['sh', '-c', RELAY_PYTHON, 'kgpu-debug-relay', '-c', code, String(port), jobDir, spec.onDisconnect ?? 'stop'],
      cwd: '/',
      stderr: 'pipe',
    },
    { signal: spec.signal },
  );
  const b = new DapBridge({
    stream,
    stderr: stream.stderr,
    paths,
    launchAs: 'attach',
    rewrite: (_command, editor) => ({
      name: typeof editor.name === 'string' ? editor.name : 'kgpu',
      type: 'python',
      request: 'attach',
      justMyCode: spec.justMyCode ?? true,
      showReturnValue: true,
      // The output comes from the job's log (every rank's, and what ran before the attach).
      redirectOutput: false,
      // kgpu's launcher is no frame of the user's.
      rules: [{ path: launcher, include: false }],
      ...(editor.__restart !== undefined ? { __restart: editor.__restart } : {}),
    }),
    // Stop (and restart) in the editor stops the program it launched (debugpy, attached, would only detach).
    rewriteRequest: (command, args) =>
      command === 'disconnect' && args?.terminateDebuggee === undefined ? { ...args, terminateDebuggee: true } : args,
    // The session ends with the job: its exit code, its whole log in the console first.
    beforeTerminated: () => ended.then((job) => ({ exitCode: job.status.state === 'exited' ? job.status.exitCode : undefined })),
    explainEnd: (info) =>
      explainEnd(spec.podId, python.join(' '), info, false, spec.onDisconnect === 'keepRunning' ? handle.jobId : undefined),
  });
  bridge = b;
  for (const s of early.splice(0)) b.output(s);
  return { bridge: b, paths, plan, remoteProgram, handle, port, synced: await handle.synced.catch(() => undefined) };
}

function abortOf(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    const fail = (): void => reject(new DebugStartError('Debugging was cancelled.'));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

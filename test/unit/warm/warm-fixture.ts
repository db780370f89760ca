/**
 * A simulator pod for the warm-start tests, and one way to run a script there cold (the plain
 * start command, as before warm starts existed — the reference) or through the warm launch (the
 * pod's fork server, else cold in the same exec), following its log to the end.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startPodFixture, type PodFixture } from '../kgpu/ssh/pod-fixture';
import { podCommands, type PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { startJob, type JobInfo } from '../../../src/kgpu/jobs/jobs';
import { followLog } from '../../../src/kgpu/jobs/log-follow';
import { quote, quoteArgv } from '../../../src/kgpu/util/shell-quote';
import {
  ensureForkServer,
  loadPodScript,
  startWithMode,
  WarmStart,
  type ForkServerResult,
  type PodScript,
  type StartMode,
  type WarmRun,
} from '../../../src/kgpu/warm';

export const JOBS_ROOT = '/workspace/.kgpu/jobs';

export interface WarmPod {
  fx: PodFixture;
  pod: PodCommands;
  script: PodScript;
  /** Files under the pod's /workspace (a folder of this machine). */
  write(podPath: string, text: string): void;
  /** A shell line in the pod; its stdout (throws on failure). */
  sh(line: string): Promise<string>;
  run(spec: RunSpec): Promise<RunResult>;
  /** Start (or find) the fork server for this interpreter and wait until it serves or gave up. */
  ensure(spec: Omit<RunSpec, 'warm'>, preload?: string[]): Promise<ForkServerResult>;
  stop(): Promise<void>;
}

export interface RunSpec {
  cwd: string;
  script: string;
  args?: string[];
  env?: Record<string, string>;
  python?: string;
  /** true: the warm launch (fork server, else cold); false: the plain cold start. */
  warm: boolean;
  preload?: string[];
  /** Each log chunk as it arrives (e.g. to act once a line is there). */
  onData?(chunk: Buffer, job: JobInfo): void;
}

export interface RunResult {
  log: Buffer;
  info: JobInfo;
  mode?: StartMode;
  /** The job directory's file names, sorted. */
  files: string[];
}

function warmRun(spec: Omit<RunSpec, 'warm'>): WarmRun {
  return {
    python: spec.python ?? 'python',
    script: spec.script,
    args: spec.args ?? [],
    cwd: spec.cwd,
    env: spec.env ?? {},
    preload: spec.preload,
  };
}

export async function startWarmPod(): Promise<WarmPod> {
  const fx = await startPodFixture();
  const pod = podCommands(fx.connector());
  const script = loadPodScript('forkserver.py');
  const sh = async (line: string): Promise<string> => {
    const r = await pod.exec(line);
    if (r.exitCode !== 0) throw new Error(`pod command failed (${r.exitCode ?? r.signal}): ${line}\n${r.stderr.toString()}`);
    return r.stdout.toString('utf8');
  };
  return {
    fx,
    pod,
    script,
    sh,
    write(podPath, text) {
      if (!podPath.startsWith('/workspace/')) throw new Error(podPath);
      const p = path.join(fx.hostDir, podPath.slice('/workspace/'.length));
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, text);
    },
    async run(spec) {
      const run = warmRun(spec);
      const command = `${run.python} ${quoteArgv([run.script, ...run.args])}`;
      let info: JobInfo;
      let mode: StartMode | undefined;
      if (spec.warm) {
        const warm = new WarmStart(() => ({ mode: 'auto', preload: spec.preload }), script).launchFor(run);
        if (!warm) throw new Error('warm start is off');
        ({ info, mode } = warm.launch
          ? await startWithMode(pod, { command, cwd: run.cwd, env: run.env, jobsRoot: JOBS_ROOT, launch: warm.launch })
          : { ...(await startWithMode(pod, { command, cwd: run.cwd, env: run.env, jobsRoot: JOBS_ROOT })), mode: warm.mode });
      } else {
        info = await startJob(pod, { command, cwd: run.cwd, env: run.env, jobsRoot: JOBS_ROOT });
      }
      const chunks: Buffer[] = [];
      const r = await followLog(pod, info.id, {
        jobsRoot: JOBS_ROOT,
        onData: (c) => {
          chunks.push(Buffer.from(c));
          spec.onData?.(c, info);
        },
      });
      const files = (await sh(`ls -A ${quote(`${JOBS_ROOT}/${info.id}`)}`)).split('\n').filter(Boolean).sort();
      return { log: Buffer.concat(chunks), info: r.job, mode, files };
    },
    ensure(spec, preload) {
      return ensureForkServer(pod, script, { ...warmRun(spec), preload }, { waitS: 180 });
    },
    stop: () => fx.stop(),
  };
}

/** A run's outcome as the job machinery records it (for cold/warm comparison). */
export function outcome(r: RunResult): unknown {
  return { status: r.info.status, files: r.files, log: r.log.toString('utf8') };
}

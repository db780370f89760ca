/**
 * The warm start as the job runner uses it — two calls around a run's start:
 *   launchFor(run)   before: the start command's launch code (try the fork server, else cold), or
 *                    why this run is cold whatever the pod holds (kgpu.python is a command, …);
 *   afterStart(...)  after: when the pod had no (working) fork server, start one in the
 *                    background for the next run — never on this run's critical path.
 * `startWithMode` is startJob() that also reads the start mode (for a start not in a sync's exec).
 */
import { prepareStart, startError, type JobInfo, type StartJobSpec } from '../jobs/jobs';
import type { PodCommands } from '../ssh/pod-commands';
import { ensureForkServer, type ForkServerResult } from './fork-server';
import { parseStartMode, wantsServer, warmLaunchShell, warmUnsupported, type StartMode, type WarmRun } from './launch';
import { loadPodScript, type PodScript } from './pod-script';

export interface WarmStartSettings {
  /** kgpu.warmStart: 'auto' tries the pod's fork server; 'off' always starts cold. */
  mode: 'auto' | 'off';
  /** kgpu.warmStartPreload: packages to preload besides those the scripts import. */
  preload?: readonly string[];
}

export interface WarmLaunch {
  /** Launch code for StartJobSpec.launch, when the run may start warm. */
  launch?: string;
  /** The mode when it cannot: cold, with the reason. */
  mode?: StartMode;
}

export class WarmStart {
  private readonly script: () => PodScript;

  constructor(
    private readonly settings: () => WarmStartSettings,
    script?: PodScript | (() => PodScript),
  ) {
    this.script = typeof script === 'function' ? script : script ? () => script : () => loadPodScript('forkserver.py');
  }

  get enabled(): boolean {
    return this.settings().mode === 'auto';
  }

  /** What a run's start command does; undefined when warm starts are off. */
  launchFor(run: Omit<WarmRun, 'preload'>): WarmLaunch | undefined {
    const s = this.settings();
    if (s.mode !== 'auto') return undefined;
    const why = warmUnsupported(run);
    if (why) return { mode: { warm: false, code: 'unsupported', reason: why } };
    return { launch: warmLaunchShell(this.script(), { ...run, preload: s.preload }) };
  }

  /** After a start: when it was cold for want of a server, start one (background; resolves with
   *  what the pod said, never rejects). */
  async afterStart(
    pod: () => PodCommands | Promise<PodCommands>,
    mode: StartMode | undefined,
    run: Omit<WarmRun, 'preload'>,
  ): Promise<ForkServerResult | undefined> {
    if (!wantsServer(mode) || !this.enabled) return undefined;
    try {
      return await ensureForkServer(await pod(), this.script(), { ...run, preload: this.settings().preload });
    } catch {
      return undefined;
    }
  }
}

/** startJob() that also returns the start mode the start command reported. */
export async function startWithMode(pod: PodCommands, spec: StartJobSpec): Promise<{ info: JobInfo; mode?: StartMode }> {
  const { line, stdin, info } = prepareStart(spec);
  const r = await pod.exec(line, { signal: spec.signal, stdin });
  if (r.exitCode !== 0) throw startError(r.exitCode, r.signal, r.stderr.toString('utf8'));
  return { info, mode: parseStartMode(r.stderr.toString('utf8')) };
}

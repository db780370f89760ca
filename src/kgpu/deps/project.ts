/**
 * The one call for any feature that runs the user's code in a synced folder (Run, Debug, Notebook
 * kernels): after the sync, make sure the project's dependencies are installed in the pod and get
 * the interpreter to use — the environment's, or kgpu.python when the project declares none.
 */
import type { PodCommands } from '../ssh/pod-commands';
import { ensureDeps, type DepsState, type EnsureDepsOptions } from './ensure';
import { depsPlan, type DepsPlan, type DepsPlanInput } from './plan';

export interface ProjectPython {
  /** The interpreter to run: the environment's python, or kgpu.python. */
  python: string;
  /** The environment, when the project has one, and whether this call installed it. */
  deps?: { plan: DepsPlan; state: DepsState };
}

/** One exec when the environment is installed already (its marker), else the install. Rejects
 *  with DepsInstallError (the installer's error) when it fails. */
export async function projectPython(pod: PodCommands, input: DepsPlanInput, options: EnsureDepsOptions = {}): Promise<ProjectPython> {
  const plan = depsPlan(input);
  if (!plan) return { python: input.python };
  const state = await ensureDeps(pod, plan, options);
  return { python: plan.python, deps: { plan, state } };
}

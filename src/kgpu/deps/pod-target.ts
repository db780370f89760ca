/**
 * The interpreter for a file that lives only in the pod (a kgpu:// editor, for Run, Debug and
 * Notebook): its project's environment when the nearest folder from the file's up to its project
 * folder (`/workspace/<name>`) has dependency files — found, hashed and installed or reused in the
 * pod (ensurePodDeps), the same environment a synced copy of the same bytes gets — else kgpu.python.
 */
import path from 'node:path';
import type { PodCommands } from '../ssh/pod-commands';
import { ensurePodDeps, type DepsState, type EnsureDepsOptions } from './ensure';
import { VENVS_DIR } from './plan';

export interface PodTargetPython {
  /** The interpreter to run: the environment's python, or kgpu.python. */
  python: string;
  /** The environment, when the file's project has one, and whether this call installed it. */
  deps?: { venvDir: string; projectDir: string; state: DepsState };
}

/** The pod folder a pod file's project is looked for up to: `<remoteRoot>/<first folder>` for a
 *  file under remoteRoot (remoteRoot itself for a file directly in it), else the file's folder. */
export function podProjectTop(file: string, remoteRoot = '/workspace'): string {
  const root = remoteRoot.replace(/\/+$/, '') || '/';
  const dir = path.posix.dirname(path.posix.normalize(file));
  const rel = path.posix.relative(root, dir);
  if (rel === '') return root;
  if (rel.startsWith('..') || path.posix.isAbsolute(rel)) return dir;
  return path.posix.join(root, rel.split('/')[0]);
}

export async function podTargetPython(
  pod: PodCommands,
  input: { file: string; python: string; remoteRoot?: string },
  options: EnsureDepsOptions = {},
): Promise<PodTargetPython> {
  const root = (input.remoteRoot ?? '/workspace').replace(/\/+$/, '') || '/';
  const found = await ensurePodDeps(
    pod,
    { file: input.file, root: podProjectTop(input.file, root), python: input.python, venvsRoot: path.posix.join(root, VENVS_DIR) },
    options,
  );
  if (!found) return { python: input.python };
  return { python: found.python, deps: { venvDir: found.venvDir, projectDir: found.projectDir, state: found.state } };
}

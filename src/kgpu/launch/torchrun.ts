/**
 * All GPUs of a pod with PyTorch's own launcher (issue 23): which launcher a run uses
 * (`kgpu.launcher`: auto | python | torchrun, and the per-file choice), the command line
 * (`<kgpu.python> -m torch.distributed.run --standalone --nproc_per_node=N --tee 3 script args` —
 * `torchrun` itself is that module's entry point; going through kgpu.python keeps the interpreter
 * the user chose, e.g. `uv run python`), and how to recognise such a job from its command line (a
 * log opened later, a re-run).
 *
 * `--tee 3` is torchrun's own (PyTorch ≥ 1.9, Debian's 1.13 included): every worker's stdout and
 * stderr go to a file under a temporary log dir, and torchrun copies each line to its own output
 * prefixed `[default<local rank>]:` (TailLog; `default` is the `--role`). On one node (standalone)
 * the local rank is the global rank. src/kgpu/launch/rank-log.ts reads those prefixes back.
 */
import { quote } from '../util/shell-quote';

export type LauncherSetting = 'auto' | 'python' | 'torchrun';
export const LAUNCHER_SETTINGS: readonly LauncherSetting[] = ['auto', 'python', 'torchrun'];

/** How a run's script is launched: one python process, or torchrun with one worker per GPU. */
export type Launcher = { kind: 'python' } | { kind: 'torchrun'; nprocPerNode: number };

/** The remembered per-file choice under `auto`. */
export type LauncherChoice = 'python' | 'torchrun';

export function parseLauncherSetting(v: unknown): LauncherSetting {
  return typeof v === 'string' && (LAUNCHER_SETTINGS as readonly string[]).includes(v) ? (v as LauncherSetting) : 'auto';
}

/**
 * What a run on a pod with `gpuCount` GPUs uses: `python` always one process; `torchrun` one worker
 * per GPU (also on a 1-GPU pod: the script may need torch.distributed's environment); `auto`: on a
 * 1-GPU pod one process, on a multi-GPU pod the file's remembered choice — `undefined` when there
 * is none yet (the editor asks, then remembers).
 */
export function resolveLauncher(setting: LauncherSetting, gpuCount: number, remembered: LauncherChoice | undefined): Launcher | undefined {
  const n = Math.max(1, Math.floor(gpuCount) || 1);
  if (setting === 'python') return { kind: 'python' };
  if (setting === 'torchrun') return { kind: 'torchrun', nprocPerNode: n };
  if (n <= 1) return { kind: 'python' };
  if (remembered === 'python') return { kind: 'python' };
  if (remembered === 'torchrun') return { kind: 'torchrun', nprocPerNode: n };
  return undefined;
}

/** The role torchrun prefixes each worker's lines with (`[default0]:`). */
export const TORCHRUN_ROLE = 'default';

/** The interpreter prefix that launches `script args` with torchrun instead of plain python. */
export function torchrunPrefix(python: string, nprocPerNode: number): string {
  const n = Math.floor(nprocPerNode);
  if (!(n >= 1 && n <= 64)) throw new RangeError(`torchrun needs 1–64 processes per node (got ${nprocPerNode}).`);
  return `${python.trim() || 'python'} -m torch.distributed.run --standalone --nproc_per_node=${n} --tee 3 --role ${quote(TORCHRUN_ROLE)}`;
}

/** How many ranks a job's command line launches with torchrun (undefined: not a torchrun job). */
export function torchrunRanks(command: string | undefined): number | undefined {
  if (!command || !/(^|[\s/])(torchrun|-m torch\.distributed\.run)(\s|$)/.test(command)) return undefined;
  const m = /--nproc[_-]per[_-]node[= ](\d+)/.exec(command);
  return m ? Number(m[1]) : 1;
}

/** A short label for the log header / job name: "torchrun × 2". */
export function launcherLabel(l: Launcher | undefined): string | undefined {
  return l?.kind === 'torchrun' ? `torchrun × ${l.nprocPerNode}` : undefined;
}

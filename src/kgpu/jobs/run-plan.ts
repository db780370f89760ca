/**
 * What running a file means, before anything touches the pod: the recipe (target, interpreter,
 * arguments, launcher), the command line and working directory it becomes, and the pod folder a
 * local folder is synced to. Pure: the runner, the debugger, sweeps and pod terminals plan here.
 */
import path from 'node:path';
import { KgpuError } from '../util/kgpu-error';
import { quote, quoteArgv } from '../util/shell-quote';
import { torchrunPrefix, type Launcher } from '../launch/torchrun';

/** Where the file to run lives. */
export type RunTarget =
  /** A file in a local folder: the folder is synced to `<remoteRoot>/<folder name>` first
   *  (`onlyThisFile`: only the file, which must be directly in `folder` — for a file outside any
   *  workspace folder, whose directory may be the home directory; `synced`: the folder was just
   *  synced to this pod — a sweep's later runs — so the job starts without syncing again). */
  | { kind: 'local'; folder: string; file: string; onlyThisFile?: boolean; synced?: boolean }
  /** A file already in the pod (a kgpu:// editor): run in place. */
  | { kind: 'pod'; path: string };

/** Everything needed to (re-)run a file. */
export interface RunRecipe {
  target: RunTarget;
  /** kgpu.python — a command prefix, e.g. "python" or "uv run python". */
  python: string;
  args: readonly string[];
  /** kgpu.env: the job's extra environment. Values are secrets: they go to the job only (on the
   *  start command's stdin), never into a command line or a stored recipe. */
  env: Record<string, string>;
  /** kgpu.syncExclude (gitignore syntax). */
  exclude?: readonly string[];
  /** Parent folder of synced folders in the pod (default /workspace). */
  remoteRoot?: string;
  /** torchrun with one worker per GPU instead of one python process (src/kgpu/launch/). */
  launcher?: Launcher;
  /** Arguments (a pod path first) run before the script, which becomes their argument — a debug
   *  launch's pod/debug_launch.py (src/kgpu/debug/debug-job.ts). Such a run is never warm. */
  scriptPrefix?: readonly string[];
}

/** What is kept (workspaceState, JSON) to re-run a job: the recipe without the environment — a
 *  re-run takes the environment from the settings of the moment. */
export type StoredRecipe = Omit<RunRecipe, 'env'>;

export interface RunPlan {
  /** The shell command line the job runs. */
  command: string;
  /** Working directory in the pod. */
  cwd: string;
  /** Pod folder the local folder is synced to (local targets only). */
  remoteDir?: string;
  /** The script as given to python (relative to cwd). */
  script: string;
  /** A short label: "train.py --epochs 3". */
  name: string;
  /** torchrun's workers (the log's lines carry their rank); undefined for one python process. */
  ranks?: number;
}

/** A run could not be planned, synced or started (the jobs layer, util/kgpu-error.ts). */
export class RunError extends KgpuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('jobs', 'run_failed', message, options);
  }
}

/** Parent folder of synced folders in the pod when the recipe names none. */
export const DEFAULT_REMOTE_ROOT = '/workspace';

/** What running a target means: the command line, its working directory, the sync folder. */
export function planRun(recipe: RunRecipe): RunPlan {
  const torchrun = recipe.launcher?.kind === 'torchrun' ? recipe.launcher : undefined;
  const plan = planPython(torchrun ? { ...recipe, python: torchrunPrefix(recipe.python, torchrun.nprocPerNode) } : recipe);
  return torchrun ? { ...plan, ranks: torchrun.nprocPerNode } : plan;
}

function planPython(recipe: RunRecipe): RunPlan {
  const python = recipe.python.trim() || 'python';
  const args = recipe.args.length ? ' ' + quoteArgv(recipe.args) : '';
  const pre = recipe.scriptPrefix?.length ? quoteArgv(recipe.scriptPrefix) + ' ' : '';
  const label = (script: string): string => {
    const n = [path.posix.basename(script), ...recipe.args].join(' ');
    return n.length > 60 ? n.slice(0, 57) + '...' : n;
  };
  if (recipe.target.kind === 'pod') {
    const p = recipe.target.path;
    if (!p.startsWith('/')) throw new RunError(`The pod path must be absolute (got "${p}").`);
    const cwd = path.posix.dirname(p);
    const script = path.posix.basename(p);
    return { command: `${python} ${pre}${quote(scriptArg(script))}${args}`, cwd, script, name: label(script) };
  }
  const { folder, file } = recipe.target;
  const rel = path.relative(folder, file);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) throw new RunError(`${file} is not inside the folder ${folder}.`);
  const script = rel.split(path.sep).join('/');
  const folderName = path.basename(path.resolve(folder));
  if (!folderName || folderName === '.' || folderName === '..')
    throw new RunError(`Cannot sync the folder ${folder}: it has no name to use in the pod.`);
  const root = (recipe.remoteRoot ?? DEFAULT_REMOTE_ROOT).replace(/\/+$/, '') || '/';
  const remoteDir = path.posix.join(root, folderName);
  return { command: `${python} ${pre}${quote(scriptArg(script))}${args}`, cwd: remoteDir, remoteDir, script, name: label(script) };
}

/** The script as the interpreter's first argument: a name that starts with `-` (one legal file
 *  name, e.g. `-cimport os;….py`) would be read as an option — `python -c<code>` runs the name as a
 *  program — so it is passed as `./name`. (`--` is not an option: `python -- x.py` is not
 *  understood by every interpreter a kgpu.python prefix may name.) */
export function scriptArg(script: string): string {
  return script.startsWith('-') ? `./${script}` : script;
}

/** A file name as a gitignore pattern that matches only itself. */
export function gitignoreLiteral(name: string): string {
  return name.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`).replace(/ $/, '\\ ');
}

/**
 * A job that died of `ModuleNotFoundError: No module named 'x'`: which package to offer to install,
 * and the requirements.txt line that records it.
 */
import path from 'node:path';
import type { DepsPlan } from './plan';
import { podProjectTop } from './pod-target';

/** Import names whose package on the index is named otherwise (the common ones). */
const PACKAGE_OF: Record<string, string> = {
  cv2: 'opencv-python',
  PIL: 'pillow',
  sklearn: 'scikit-learn',
  yaml: 'pyyaml',
  skimage: 'scikit-image',
  bs4: 'beautifulsoup4',
  dateutil: 'python-dateutil',
  dotenv: 'python-dotenv',
  jwt: 'pyjwt',
  google: 'protobuf',
  attr: 'attrs',
  serial: 'pyserial',
  Crypto: 'pycryptodome',
  docx: 'python-docx',
  magic: 'python-magic',
  wx: 'wxpython',
  fitz: 'pymupdf',
};

const MODULE_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export interface MissingModule {
  /** The module the traceback names ("kgpu_demo_utils.plots"). */
  module: string;
  /** The package to install ("kgpu_demo_utils": pip normalizes _ and -). */
  package: string;
}

/** The module an uncaught ModuleNotFoundError named in the end of a job's log, if that is how it
 *  died (the last traceback line), else undefined. */
export function missingModule(logTail: string): MissingModule | undefined {
  const lines = logTail
    .replace(/\r/g, '\n')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines.at(-1) ?? '';
  const m = /^ModuleNotFoundError: No module named '([^']+)'$/.exec(last);
  if (!m || !MODULE_RE.test(m[1])) return undefined;
  const top = m[1].split('.')[0];
  return { module: m[1], package: PACKAGE_OF[top] ?? top };
}

/** requirements.txt with `pkg` appended (on a line of its own), unless it names it already. */
export function withRequirement(text: string, pkg: string): string {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_.]+/g, '-');
  const named = text.split(/\r?\n/).some((l) => norm(l.trim().split(/[\s<>=!~;[#@]/)[0] ?? '') === norm(pkg));
  if (named) return text;
  return `${text}${text && !text.endsWith('\n') ? '\n' : ''}${pkg}\n`;
}

/** What a failed job's "Install x in the pod (and add it to requirements.txt)" can do. */
export interface MissingModuleFix {
  /** Where Install puts the package: the project's environment (a local project's), or the
   *  interpreter the job ran with, in its folder (a pod file's — its project's environment when it
   *  has one, else kgpu.python — or kgpu.python with kgpu.installDependencies off). */
  install?: { kind: 'env'; plan: DepsPlan } | { kind: 'python'; python: string; cwd: string };
  /** The requirements.txt that records it: on this machine, or in the pod (a pod file's project
   *  folder, where its environment is looked for: podProjectTop). */
  requirements?: { where: 'local' | 'pod'; path: string };
}

/** How the job that died ran: its environment, its target and interpreter, its folder in the pod. */
export interface MissingModuleRun {
  deps?: DepsPlan;
  target?: { kind: 'local'; folder: string; onlyThisFile?: boolean } | { kind: 'pod'; path: string };
  /** The interpreter the job ran with (its recipe's python). */
  python?: string;
  /** The job's working directory in the pod. */
  cwd?: string;
  /** kgpu.installDependencies is off (no environments: Install uses the job's own python). */
  depsOff: boolean;
}

/** What to offer for a job that died of ModuleNotFoundError; nothing (an empty object) when there is no way to install it. */
export function missingModuleFix(run: MissingModuleRun): MissingModuleFix {
  const t = run.target;
  const requirements: MissingModuleFix['requirements'] = run.deps
    ? { where: 'local', path: path.join(run.deps.localDir, 'requirements.txt') }
    : t?.kind === 'local' && !t.onlyThisFile
      ? { where: 'local', path: path.join(t.folder, 'requirements.txt') }
      : t?.kind === 'pod'
        ? { where: 'pod', path: path.posix.join(podProjectTop(t.path), 'requirements.txt') }
        : undefined;
  const install: MissingModuleFix['install'] = run.deps
    ? { kind: 'env', plan: run.deps }
    : run.python && run.cwd && (run.depsOff || t?.kind === 'pod')
      ? { kind: 'python', python: run.python, cwd: run.cwd }
      : undefined;
  return { ...(install ? { install } : {}), ...(requirements ? { requirements } : {}) };
}

/**
 * A job that died of `ModuleNotFoundError: No module named 'x'`: which package to offer to install,
 * and the requirements.txt line that records it.
 */

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

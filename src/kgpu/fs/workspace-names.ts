/**
 * Names the workspace file system treats specially: the probes VS Code makes when a folder opens
 * (answered from the parent's listing) and the temp files of our own writes (hidden).
 */

/** Names VS Code and its extensions look for when a folder opens. A stat for one of them lists the
 *  parent instead (one round trip answers all the siblings' probes too). */
export const PROBES: ReadonlySet<string> = new Set([
  '.vscode',
  '.git',
  'node_modules',
  'pyproject.toml',
  'package.json',
  'settings.json',
  'tasks.json',
  'launch.json',
  'extensions.json',
  '.devcontainer',
  '.editorconfig',
  'tsconfig.json',
  'jsconfig.json',
  'requirements.txt',
  'setup.py',
  'setup.cfg',
  '.gitignore',
  '.gitattributes',
  '.env',
  '.venv',
  'venv',
  'Pipfile',
  'environment.yml',
  '.python-version',
  '.github',
  'mcp.json',
  '.code-workspace',
  'AGENTS.md',
  'CLAUDE.md',
  '.cursorrules',
  'pyrightconfig.json',
  'tox.ini',
]);

/** Temp files of our own atomic writes, uploads and copies: hidden from listings and watch events. */
const TEMP_NAME = /\.kgpu-(?:[0-9a-f]{12}\.tmp|upload-[0-9a-f]{12}|copy-[0-9a-f]{12}|transit-[0-9a-f]{12})$/;

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

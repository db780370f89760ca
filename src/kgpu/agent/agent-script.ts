/**
 * The agent program (pod/agent.py, shipped in the VSIX) and the ONE exec that places and starts
 * it: the pod keeps it at `/tmp/kgpu-<uid>/agent-<sha256 prefix>.py`, in a directory private to
 * the pod user (0700; never /workspace, which is synced and visible). When the file is there the
 * exec starts it at once; when it is not, the exec says `KGPU-AGENT-SEND <n>` on stdout, reads
 * exactly n bytes from stdin into a temp file, checks the size, renames it into place (removing
 * other versions) and starts it. Any failure is one `KGPU-AGENT-ERR <code> <text>` line.
 * The interpreter is the pod's `python3` (else `python`), run isolated (-I -S: no user site,
 * no PYTHON* variables) — never the project's `kgpu.python`, which may be a venv or a wrapper.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface AgentScript {
  /** The program's bytes, as sent to the pod. */
  source: Buffer;
  /** First 16 hex digits of its sha256: its name in the pod. */
  hash: string;
}

/** Relative path of the agent inside the extension (and the repository). */
export const AGENT_RELATIVE_PATH = path.join('pod', 'agent.py');

/**
 * The extension's root: the nearest folder above `from` holding pod/agent.py. From the bundle
 * (`dist/extension.js`) that is one level up; from the sources under tsx (`src/kgpu/agent/`), three.
 */
export function findExtensionRoot(from: string = __dirname): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, AGENT_RELATIVE_PATH))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(
    `kgpu: the pod agent (${AGENT_RELATIVE_PATH}) was not found above ${from}; the extension's installation is incomplete — reinstall it.`,
  );
}

export function agentScriptFrom(source: Buffer): AgentScript {
  return { source, hash: createHash('sha256').update(source).digest('hex').slice(0, 16) };
}

const cache = new Map<string, Promise<AgentScript>>();

/** The shipped agent (read once per process). */
export function loadAgentScript(file: string = path.join(findExtensionRoot(), AGENT_RELATIVE_PATH)): Promise<AgentScript> {
  let p = cache.get(file);
  if (!p) {
    p = readFile(file).then(agentScriptFrom);
    p.catch(() => cache.delete(file));
    cache.set(file, p);
  }
  return p;
}

export const SEND_LINE = 'KGPU-AGENT-SEND';
export const ERROR_LINE = 'KGPU-AGENT-ERR';

/** The pod directory of the agent, as a shell expression. */
export const AGENT_DIR = '/tmp/kgpu-$(id -u)';

/** The exec command line that places (when needed) and starts the agent. */
export function agentCommand(script: AgentScript): string {
  const { hash } = script;
  if (!/^[0-9a-f]{16}$/.test(hash)) throw new Error(`bad agent hash ${hash}`);
  const n = script.source.length;
  return [
    `d="${AGENT_DIR}"; f="$d/agent-${hash}.py"; umask 077`,
    `[ -d "$d" ] || mkdir "$d" 2>/dev/null`,
    `if [ -L "$d" ] || [ ! -d "$d" ] || [ ! -O "$d" ]; then echo "${ERROR_LINE} unsafe-dir $d is not a directory owned by $(id -un)"; exit 1; fi`,
    `chmod 700 "$d"`,
    `py=$(command -v python3 || command -v python) || { echo "${ERROR_LINE} no-python the pod has neither python3 nor python on its PATH"; exit 1; }`,
    `if [ ! -f "$f" ]; then echo "${SEND_LINE} ${n}"; t="$d/.agent-$$.tmp"; ` +
      `if head -c ${n} > "$t" && [ "$(wc -c < "$t")" -eq ${n} ] && mv -f "$t" "$f"; then ` +
      `for o in "$d"/agent-*.py; do [ "$o" = "$f" ] || rm -f "$o"; done; ` +
      `else rm -f "$t"; echo "${ERROR_LINE} write-failed could not write $f"; exit 1; fi; fi`,
    `exec "$py" -I -S "$f" ${hash}`,
  ].join('\n');
}

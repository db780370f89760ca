/**
 * Placing a pod-side script by content hash, in the same exec as what uses it: the pod keeps it at
 * `/tmp/kgpu-<uid>/<name>_<hash>.py`, in a directory private to the pod user (0700, a real
 * directory it owns; never /workspace, which is synced and visible). The exec's stdin ENDS with
 * the script's bytes: when the file is there they are drained, when it is not they are written to
 * a temp file, checked for size and renamed into place (concurrent first starts are safe) and other
 * versions are removed. One exec either way, no extra round trip. (The pod agent places
 * pod/agent.py the same way; the two can share this.)
 */
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import type { PodScript } from './pod-script';

/** The pod's private directory for kgpu's own files, as a shell expression. */
export const POD_PRIVATE_DIR = '/tmp/kgpu-$(id -u)';

/** Exit statuses of the placement shell. */
export const PLACE_UNSAFE_DIR = 7;
export const PLACE_WRITE_FAILED = 8;

/**
 * Shell that sets `$F` (the private directory) and `$f` (the placed script), reading the script
 * from the rest of stdin when absent. Whatever follows it runs with the file in place.
 */
export function placeScriptShell(script: PodScript): string {
  const base = script.name.slice(0, -3);
  if (!/^[0-9a-f]{16}$/.test(script.hash)) throw new Error(`bad script hash ${script.hash}`);
  const n = script.source.length;
  return [
    `F="${POD_PRIVATE_DIR}"; f="$F/${script.podName}"; um=$(umask); umask 077`,
    `[ -d "$F" ] || mkdir "$F" 2>/dev/null`,
    `if [ -L "$F" ] || [ ! -d "$F" ] || [ ! -O "$F" ]; then echo "kgpu: $F is not a directory owned by $(id -un)" >&2; exit ${PLACE_UNSAFE_DIR}; fi`,
    `chmod 700 "$F"`,
    `if [ -f "$f" ]; then cat > /dev/null; else t="$F/.${base}-$$.tmp"; ` +
      `if cat > "$t" && [ "$(wc -c < "$t")" -eq ${n} ] && mv -f "$t" "$f"; then ` +
      `for o in "$F"/${base}_*.py "$F"/__pycache__/${base}_*; do case $o in "$f"|"$F/__pycache__/${script.module}".*) ;; *) rm -f "$o";; esac; done; ` +
      `else rm -f "$t"; echo "kgpu: could not write $f" >&2; exit ${PLACE_WRITE_FAILED}; fi; fi`,
    `umask "$um"`,
  ].join('\n');
}

/** Place `script` and return its path in the pod (one exec). */
export async function placeScript(pod: PodCommands, script: PodScript, options: { signal?: AbortSignal } = {}): Promise<string> {
  const line = quoteArgv(['sh', '-c', `${placeScriptShell(script)}\nprintf '%s\\n' "$f"`]);
  const r = await pod.exec(line, { stdin: script.source, signal: options.signal });
  if (r.exitCode !== 0)
    throw new Error(`Could not place ${script.name} in the pod: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode}`}`);
  return r.stdout.toString('utf8').trim();
}

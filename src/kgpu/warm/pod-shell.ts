/**
 * Shell pieces shared by the warm start's pod commands: which interpreter a job's `sh -c
 * "<python> script"` runs, and the key of its fork server (one per pod and interpreter).
 */

/** `kgpu_py WORD CWD`: the absolute path `sh` would run for WORD from CWD (PATH search, or a
 *  path relative to CWD); fails for anything else (a shell function, a missing file).
 *  `kgpu_key PATH`: 16 hex digits naming the interpreter's fork server (the start command's client
 *  computes the same in pod/forkserver.py's interpreter_key(); test/unit/warm/warm-analysis.test.ts). */
export const RESOLVE_SHELL = String.raw`kgpu_py() { case $1 in
  */*) (cd "$2" 2>/dev/null && cd "$(dirname "$1")" 2>/dev/null && printf '%s/%s\n' "$(pwd)" "$(basename "$1")");;
  *) kgpu_p=$(cd "$2" 2>/dev/null && command -v "$1") && case $kgpu_p in /*) printf '%s\n' "$kgpu_p";; *) return 1;; esac;;
esac; }
# kgpu_pyv WORD CWD: the same path, into kgpu_i, without a subshell when WORD is a bare name and every
# PATH entry is absolute (a PATH search in this shell: the start command's path to a warm run).
kgpu_pyv() { case $1 in */*) kgpu_i=$(kgpu_py "$1" "$2");; *)
  case ":$PATH:" in *::*|*:[!/]*) kgpu_i=$(kgpu_py "$1" "$2");; *)
    kgpu_i=; kgpu_o=$IFS; IFS=:; set -f
    for kgpu_pe in $PATH; do if [ -f "$kgpu_pe/$1" ] && [ -x "$kgpu_pe/$1" ]; then kgpu_i=$kgpu_pe/$1; break; fi; done
    IFS=$kgpu_o; set +f; [ -n "$kgpu_i" ];;
  esac;;
esac; }
kgpu_key() { printf '%s' "$1" | sha256sum | cut -c1-16; }
kgpu_alive() { kill -0 "$1" 2>/dev/null || return 1; case $(sed -n 's/^.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) in Z) return 1;; esac; }`;

/** kgpu.python values a warm start can use: one word naming an interpreter or a path to one. */
export const PLAIN_INTERPRETER = /^[A-Za-z0-9_.+/][A-Za-z0-9_.+/-]*$/;

/** Module names accepted in a preload list (kgpu.warmStartPreload). */
export const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

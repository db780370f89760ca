/**
 * Shell pieces shared by the warm start's pod commands: which interpreter a job's `sh -c
 * "<python> script"` runs, and the key of its fork server (one per pod and interpreter).
 */

/** `kgpu_py WORD CWD`: sets kgpu_i to the absolute path `sh` would run for WORD from CWD (PATH
 *  search, or a path relative to CWD); fails for anything else (a shell function, a missing file).
 *  A bare WORD with every PATH entry absolute is searched in the calling shell, no subshell (each
 *  fork costs a warm run's start several ms on a busy pod); otherwise `command -v` from CWD.
 *  `kgpu_key PATH`: 16 hex digits naming the interpreter's fork server (the start command's client
 *  computes the same in pod/forkserver.py's interpreter_key(); test/unit/warm/warm-analysis.test.ts). */
export const RESOLVE_SHELL = String.raw`kgpu_py() { kgpu_i=; case $1 in
  */*) kgpu_i=$(cd "$2" 2>/dev/null && cd "$(dirname "$1")" 2>/dev/null && printf '%s/%s\n' "$(pwd)" "$(basename "$1")");;
  *) case ":$PATH:" in
    *::*|*:[!/]*) kgpu_i=$(cd "$2" 2>/dev/null && command -v "$1") && case $kgpu_i in /*) ;; *) kgpu_i=;; esac;;
    *) kgpu_o=$IFS; IFS=:; set -f
      for kgpu_pe in $PATH; do if [ -f "$kgpu_pe/$1" ] && [ -x "$kgpu_pe/$1" ]; then kgpu_i=$kgpu_pe/$1; break; fi; done
      IFS=$kgpu_o; set +f;;
  esac;;
esac; [ -n "$kgpu_i" ]; }
kgpu_key() { printf '%s' "$1" | sha256sum | cut -c1-16; }
kgpu_alive() { kill -0 "$1" 2>/dev/null || return 1; case $(sed -n 's/^.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) in Z) return 1;; esac; }`;

/** kgpu.python values a warm start can use: one word naming an interpreter or a path to one. */
export const PLAIN_INTERPRETER = /^[A-Za-z0-9_.+/][A-Za-z0-9_.+/-]*$/;

/** Module names accepted in a preload list (kgpu.warmStartPreload). */
export const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

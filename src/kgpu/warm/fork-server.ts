/**
 * Starting a pod's fork server (pod/forkserver.py `serve`), in ONE exec that also places the
 * script by content hash: the server gets exactly a job's environment (the pod's own, kgpu.env —
 * sent on stdin, never as arguments — and PYTHONUNBUFFERED=1 as jobs get it), starts in the job's
 * folder detached (`setsid -f`), imports the packages the script imports (and the preload list)
 * and serves once they are in. Nothing here is on a run's critical path: the job runner calls it
 * in the background after a cold start. With `waitS` the exec waits (bounded, in the pod) until the
 * server serves or has given up, and says which.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { PodCommands } from '../ssh/pod-commands';
import { quote, quoteArgv } from '../util/shell-quote';
import { placeScriptShell, POD_PRIVATE_DIR } from './place-script';
import { RESOLVE_SHELL } from './pod-shell';
import { preloadList, warmUnsupported, type WarmRun } from './launch';
import type { PodScript } from './pod-script';

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type ForkServerState =
  /** It serves (waitS given). */
  | 'ready'
  /** One was already there (alive); with waitS it did not get ready in time. */
  | 'running'
  /** Started now (without waitS). */
  | 'started'
  /** It ended without serving (refused a preload, crashed); `reason` says why. */
  | 'stopped'
  /** Not started: kgpu.python is not a plain interpreter in the pod. */
  | 'unsupported'
  /** waitS passed before it served. */
  | 'timeout';

export interface ForkServerResult {
  state: ForkServerState;
  reason?: string;
}

/** The job's environment as `export NAME='value'` lines (what the start command gets). */
export function jobEnvExports(env: Record<string, string>): string {
  const all: Record<string, string> = { PYTHONUNBUFFERED: '1', ...env };
  let out = '';
  for (const [k, v] of Object.entries(all)) {
    if (!ENV_NAME_RE.test(k)) throw new Error(`"${k}" is not a valid environment variable name.`);
    if (v.includes('\0')) throw new Error(`The value of ${k} contains a NUL character.`);
    out += `export ${k}=${quote(v)}\n`;
  }
  return out;
}

// The environment (kgpu.env) is exported first — the interpreter is found on its PATH — and this
// script's own variables are set after it, so an entry named like one of them cannot steer it;
// the server itself starts with the environment as given (evaluated again in its subshell).
const ENSURE_SCRIPT = (script: PodScript): string => String.raw`IFS= read -r kgpu_e || exit 6
kgpu_env=$(printf '%s' "$kgpu_e" | base64 -d) && eval "$kgpu_env" || exit 6
unset kgpu_e
pyword=$1; cwd=$2; preload=$3; learn=$4; waits=$5; token=$6
${placeScriptShell(script)}
${RESOLVE_SHELL}
kgpu_py "$pyword" "$cwd" && p=$kgpu_i && [ -f "$p" ] && [ -x "$p" ] || { echo "KGPU-WARM unsupported interp $pyword is not an interpreter in the pod"; exit 0; }
k=$(kgpu_key "$p"); pf="$F/fs-$k.pid"
set -- $(head -c 300 "$pf" 2>/dev/null)
if [ "$2" = ${script.hash} ] && kgpu_alive "$1"; then st=running
else
  st=started
  set -- "$cwd" "$p" "$f" "$F" "$k" "$token" "--preload=$preload" "--learn=$learn"
  (eval "$kgpu_env"; cd "$1" 2>/dev/null || cd /; exec setsid -f "$2" "$3" serve "$4" "$5" ${script.hash} "$6" "$7" "$8") < /dev/null > /dev/null 2>&1
fi
[ "$waits" -gt 0 ] 2>/dev/null || { echo "KGPU-WARM $st"; exit 0; }
# Until a server of this version serves — ours, or one started at the same time that won the
# socket — or none has been alive for 1 s after one was (30 s if none ever was).
i=0; n=$((waits * 20)); seen=0; gone=0
while [ $i -lt $n ]; do
  set -- $(head -c 300 "$pf" 2>/dev/null)
  if [ "$2" = ${script.hash} ] && kgpu_alive "$1"; then
    seen=1; gone=0; [ "$3" = ready ] && [ -S "$F/fs-$k.sock" ] && { echo "KGPU-WARM ready"; exit 0; }
  else
    gone=$((gone + 1))
    # The server we started said why it stopped (line 2 of the why file names the start). Both
    # lines from ONE read: a starting server's "starting" note goes the moment it serves, and two
    # reads could see its token, then no note at all (read as a stop).
    w=$(head -n 2 "$F/fs-$k.why" 2>/dev/null)
    if [ "$st" = started ] && [ "${'$'}{w#*
}" = "token $token" ] && [ "${'$'}{w#starting }" = "$w" ]; then gone=600; fi
    if { [ $seen = 1 ] && [ $gone -ge 20 ]; } || [ $gone -ge 600 ]; then
      echo "KGPU-WARM stopped $(printf '%s\n' "$w" | head -n 1 | cut -c1-300)"; exit 0
    fi
  fi
  sleep 0.05; i=$((i + 1))
done
echo "KGPU-WARM timeout"
`;

/**
 * Make sure the pod has a fork server for this run's interpreter: place the script, start one if
 * none is alive. One exec. Resolves with what the pod reported.
 */
export async function ensureForkServer(
  pod: PodCommands,
  script: PodScript,
  run: WarmRun,
  options: { waitS?: number; signal?: AbortSignal } = {},
): Promise<ForkServerResult> {
  const unsupported = warmUnsupported(run);
  if (unsupported) return { state: 'unsupported', reason: unsupported };
  const learn = path.posix.isAbsolute(run.script) ? run.script : path.posix.join(run.cwd, run.script);
  const token = randomBytes(6).toString('hex');
  const line = quoteArgv([
    'sh',
    '-c',
    ENSURE_SCRIPT(script),
    'kgpu-warm-ensure',
    run.python.trim(),
    run.cwd,
    preloadList(run.preload),
    learn,
    String(Math.max(0, Math.ceil(options.waitS ?? 0))),
    token,
  ]);
  const stdin = Buffer.concat([Buffer.from(Buffer.from(jobEnvExports(run.env), 'utf8').toString('base64') + '\n'), script.source]);
  const r = await pod.exec(line, { stdin, signal: options.signal });
  const out = /^KGPU-WARM (\S+) ?(.*)$/m.exec(r.stdout.toString('utf8'));
  if (r.exitCode !== 0 || !out)
    throw new Error(`Could not start the fork server in the pod: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode}`}`);
  return { state: out[1] as ForkServerState, ...(out[2] ? { reason: out[2].replace(/^\S+ /, '') } : {}) };
}

/**
 * Stop every fork server of this pod (all interpreters): SIGTERM (or `signal`) to each server's
 * pid. Jobs they started are not touched. Resolves with how many were signalled.
 */
export async function stopForkServers(pod: PodCommands, options: { signal?: 'TERM' | 'KILL'; abort?: AbortSignal } = {}): Promise<number> {
  const sig = options.signal ?? 'TERM';
  const script = String.raw`F="${POD_PRIVATE_DIR}"; n=0
for pf in "$F"/fs-*.pid; do
  [ -f "$pf" ] || continue
  set -- $(head -c 300 "$pf" 2>/dev/null)
  case $1 in ''|*[!0-9]*) continue;; esac
  kill -s ${sig} "$1" 2>/dev/null && n=$((n + 1))
done
echo "$n"`;
  const r = await pod.exec(quoteArgv(['sh', '-c', script]), { signal: options.abort });
  return Number(r.stdout.toString('utf8').trim()) || 0;
}

export interface ForkServerStatus {
  pid: number;
  hash: string;
  python: string;
  /** Top-level packages imported before forking. */
  preloaded: string[];
  /** Packages it will not preload (a refused or failed import). */
  excluded: string[];
  /** Why it no longer serves warm (it is being replaced), else null. */
  stale: string | null;
  /** The pid of the server replacing it (new packages learned, or a change), else null. */
  replacement: number | null;
  /** Warm jobs it started that are still running (their waiters). */
  jobs: number;
  /** Its resident memory in the pod, KiB. */
  rss_kb: number | null;
}

/** What the fork server of this interpreter says about itself; undefined when none answers. */
export async function forkServerStatus(
  pod: PodCommands,
  script: PodScript,
  run: Pick<WarmRun, 'python' | 'cwd'>,
  options: { signal?: AbortSignal } = {},
): Promise<ForkServerStatus | undefined> {
  const sh = String.raw`F="${POD_PRIVATE_DIR}"; f="$F/${script.podName}"
${RESOLVE_SHELL}
kgpu_py "$1" "$2" && p=$kgpu_i && [ -f "$f" ] || exit 3
exec "$p" -I -S "$f" status "$F" "$(kgpu_key "$p")"`;
  const r = await pod.exec(quoteArgv(['sh', '-c', sh, 'kgpu-warm-status', run.python.trim(), run.cwd]), { signal: options.signal });
  if (r.exitCode !== 0) return undefined;
  try {
    return JSON.parse(r.stdout.toString('utf8')) as ForkServerStatus;
  } catch {
    return undefined;
  }
}

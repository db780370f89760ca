/**
 * Where a running job's debugpy listens (kgpu: Attach Debugger on a job, issue 21), in one exec:
 *  1. the markers pod/debug_launch.py writes (`/tmp/kgpu-<uid>/debug/<pid>.json`, {pid, port, rank})
 *     for the processes of the job's process group that are alive — a job kgpu started under the
 *     debugger (Debug on GPU with "keepRunning", or its re-run);
 *  2. else the debugpy adapters in the pod that `debugpy.listen(<port>)` started with a fixed port
 *     (their command line says `--port N`; the adapter daemonizes out of the job's process group, so
 *     these are every such adapter in the pod, marked `inJob: false`).
 * Empty when neither is found: the editor asks for the port.
 */
import { DEFAULT_JOBS_ROOT, assertJobId } from '../jobs/jobs';
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';

export interface DebugPort {
  port: number;
  /** The process that listens (the debugged program; for an adapter, the adapter). */
  pid: number;
  /** torchrun's rank of that process, when it has one. */
  rank?: string;
  /** True when found through the job's own processes (a marker). */
  inJob: boolean;
}

const FIND_SCRIPT = [
  'd=$1/$2',
  '[ -d "$d" ] || exit 3',
  'pg=$(tr -cd 0-9 < "$d/pgid" 2>/dev/null)',
  'F=/tmp/kgpu-$(id -u)/debug',
  'if [ -n "$pg" ] && [ -d "$F" ]; then',
  '  for s in /proc/[0-9]*/stat; do',
  '    p=${s#/proc/}; p=${p%/stat}',
  '    [ -f "$F/$p.json" ] || continue',
  '    g=$(sed -n \'s/^.*) \\(.\\) [0-9]* \\([0-9]*\\) .*/\\1 \\2/p\' "$s" 2>/dev/null)',
  '    case $g in Z*) continue;; esac',
  '    [ "${g#* }" = "$pg" ] || continue',
  "    printf 'M '; head -c 4096 \"$F/$p.json\" | tr -d '\\n'; printf '\\n'",
  '  done',
  'fi',
  'for c in /proc/[0-9]*/cmdline; do',
  "  l=$(tr '\\0' ' ' < \"$c\" 2>/dev/null | head -c 4096)",
  '  case $l in *debugpy*adapter*--for-server*--port\\ *) p=${c#/proc/}; printf \'A %s %s\\n\' "${p%/cmdline}" "$l";; esac',
  'done',
].join('\n');

/** The ports a job's debugpy listens on (see the file comment), markers first. */
export async function findDebugPorts(
  pod: PodCommands,
  jobId: string,
  options: { jobsRoot?: string; signal?: AbortSignal } = {},
): Promise<DebugPort[]> {
  assertJobId(jobId);
  const r = await pod.exec(quoteArgv(['sh', '-c', FIND_SCRIPT, 'kgpu-debug-port', options.jobsRoot ?? DEFAULT_JOBS_ROOT, jobId]), {
    signal: options.signal,
  });
  if (r.exitCode !== 0) return [];
  const marked: DebugPort[] = [];
  const adapters: DebugPort[] = [];
  for (const line of r.stdout
    .toString('utf8')
    .slice(0, 256 * 1024)
    .split('\n')) {
    if (line.startsWith('M ')) {
      try {
        const m = JSON.parse(line.slice(2)) as { pid?: unknown; port?: unknown; rank?: unknown };
        if (isPort(m.port) && typeof m.pid === 'number')
          marked.push({ port: m.port, pid: m.pid, inJob: true, ...(typeof m.rank === 'string' ? { rank: m.rank } : {}) });
      } catch {
        // a marker being written: skip it
      }
    } else if (line.startsWith('A ')) {
      const m = /^A (\d+) .*--port (\d+)(?:\s|$)/.exec(line);
      if (m && isPort(Number(m[2]))) adapters.push({ port: Number(m[2]), pid: Number(m[1]), inJob: false });
    }
  }
  return marked.length ? marked.sort((a, b) => Number(a.rank ?? 0) - Number(b.rank ?? 0)) : adapters;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

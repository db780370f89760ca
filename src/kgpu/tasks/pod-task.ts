/**
 * A `kgpu` task's command, run in the pod over one exec channel: stdout and stderr stream as
 * terminal text (CRLF, split UTF-8 kept whole) as they arrive, the exit code comes back, and a
 * cancel hangs the command up (the channel and its connection close; the pod's shell sends the
 * command SIGHUP). Plain Node; the editor's Pseudoterminal (src/tasks/) is a thin adapter.
 */
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import { TerminalText } from '../jobs/job-log-text';
import { SshAbortedError } from '../ssh/ssh-errors';

/** What a task in tasks.json says: `{"type": "kgpu", "command": "pytest -q", "pod": "…"}`. */
export interface KgpuTaskDefinition {
  type: 'kgpu';
  /** A shell command line, run by bash in the pod. */
  command: string;
  /** Pod id or name; without it, the only ready pod (or a pick). */
  pod?: string;
  /** Folder in the pod; default /workspace/<the task's workspace folder name> when it exists, else home. */
  cwd?: string;
}

export interface PodTaskIo {
  /** Terminal text (CRLF line ends). */
  write(text: string): void;
  signal?: AbortSignal;
}

export type PodTaskResult = { exitCode: number } | { signal: string } | { cancelled: true };

/** The script: go to the folder (when it exists), then run the line with bash; $$ is the command's pid. */
const TASK_SCRIPT =
  'if [ -n "$1" ] && [ -d "$1" ]; then cd "$1" || exit 125; elif [ -n "$2" ]; then echo "kgpu: there is no folder $1 in the pod" >&2; exit 125; fi; exec bash -c "$3"';

export function taskCommandLine(command: string, cwd: string | undefined, cwdRequired: boolean): string {
  return quoteArgv(['sh', '-c', TASK_SCRIPT, 'kgpu-task', cwd ?? '', cwdRequired ? '1' : '', command]);
}

export async function runPodTask(
  pod: PodCommands,
  def: Pick<KgpuTaskDefinition, 'command' | 'cwd'> & { defaultCwd?: string },
  io: PodTaskIo,
): Promise<PodTaskResult> {
  const line = taskCommandLine(def.command, def.cwd ?? def.defaultCwd, def.cwd !== undefined);
  let s;
  try {
    s = await pod.execStream(line, { stdin: '', signal: io.signal });
  } catch (e) {
    if (e instanceof SshAbortedError || io.signal?.aborted) return { cancelled: true };
    throw e;
  }
  const out = new TerminalText();
  const err = new TerminalText();
  s.stdout.on('data', (c: Buffer) => io.write(out.push(c)));
  s.stderr.on('data', (c: Buffer) => io.write(err.push(c)));
  try {
    const status = await s.done;
    io.write(out.end() + err.end());
    if (status.exitCode !== undefined && status.exitCode !== null) return { exitCode: status.exitCode };
    return { signal: String(status.signal ?? 'unknown') };
  } catch (e) {
    if (e instanceof SshAbortedError || io.signal?.aborted) return { cancelled: true };
    throw e;
  }
}

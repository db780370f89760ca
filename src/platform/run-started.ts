/**
 * What `kgpu.runActiveFile` resolves to (src/jobs/run-command.ts), for the commands that run a file
 * and then act on its job through `vscode.commands.executeCommand` (release when done, tests).
 */
export interface RunStarted {
  podId: string;
  jobId: string;
  terminalName: string;
  /** Resolves when the job has ended and its log is drained: its state ("exited", …) and exit code. */
  done: Promise<{ state: string; exitCode?: number }>;
  /** What the log panel shows so far (terminal text: header, log, footer). */
  text(): string;
  /** Milliseconds from the command's start (save, pod, sync, start, follow) to the first log byte
   *  in the panel; undefined when the job printed nothing. */
  firstByteMs: Promise<number | undefined>;
}

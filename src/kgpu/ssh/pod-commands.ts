/**
 * The two SSH operations that jobs and sync need from a pod, as a small structural interface so
 * that they depend on what they use, not on how connections are made. `podCommands(connector)`
 * adapts the SSH layer (one fresh bastion connection per call — the bastion is single-channel).
 */
import type { Readable } from 'node:stream';
import type { PodConnector } from './ssh-connection';
import { exec, execStream, type Command, type ExecOptions, type ExecResult, type ExecStream } from './ssh-exec';

export type { Command, ExecOptions, ExecResult, ExecStream } from './ssh-exec';

export interface PodCommands {
  /** Run a command to completion, collecting its output. */
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  /** Start a command and stream its stdin/stdout/stderr. */
  execStream(command: Command, options?: ExecOptions): Promise<ExecStream>;
}

export function podCommands(connector: PodConnector): PodCommands {
  return {
    exec: (command, options) => exec(connector, command, options),
    execStream: (command, options) => execStream(connector, command, options),
  };
}

/** Resolves once a stream of an ExecStream has delivered everything: the exit status can arrive
 *  before the last stderr/stdout data has been read. */
export function drained(r: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (r.readableEnded || r.destroyed) return resolve();
    r.once('end', resolve);
    r.once('close', resolve);
  });
}

/**
 * The output of one exec in the simulator (the contract's POST /pods/{id}/exec): the command's
 * stdout and stderr collected together up to `max_output_bytes`; what comes past it is dropped
 * and the result says `truncated`. Shared by the real pod runtime (running-pod.ts) and the
 * stand-in (pods-standin.ts).
 */
import type { ChildProcess } from 'node:child_process';

export class ExecOutput {
  /** Output past the bound was dropped. */
  truncated = false;
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private total = 0;

  /** Collect `child`'s stdout and stderr, at most `maxBytes` of both together. */
  constructor(
    child: ChildProcess,
    private readonly maxBytes: number,
  ) {
    child.stdout?.on('data', (c: Buffer) => this.take(this.out, c));
    child.stderr?.on('data', (c: Buffer) => this.take(this.err, c));
  }

  get stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }

  private take(into: Buffer[], c: Buffer): void {
    const room = this.maxBytes - this.total;
    if (c.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = c.subarray(0, room);
    this.total += part.length;
    into.push(part);
  }
}

/**
 * WORKAROUND for ssh2 1.17's server channels (the bastion's exec/shell streams). A write that has
 * to wait for the client's window is parked in one slot per stream (`_chunk`/`_chunkcb` for
 * stdout, `_chunkErr`/`_chunkcbErr` for stderr), and CHANNEL_WINDOW_ADJUST resumes only the first
 * slot that is set — stdout before stderr — and nothing ever clears a slot once written. So:
 *   - stdout and stderr both waiting (a job follower's log tail still queued when its status line
 *     goes to stderr): stdout resumes, stderr and the exit status behind it wait forever;
 *   - stderr waiting alone after stdout once waited: the adjust re-sends that stale stdout chunk.
 * Here a slot is cleared as soon as its write has gone out, and whenever the window grows the
 * stream still parked is resumed too. Remove once ssh2 fixes its WINDOW_ADJUST handler
 * (test/unit/sim/bastion-ssh2.test.ts fails without this).
 */
import type { ServerChannel } from 'ssh2';

type WriteCb = (err?: Error | null) => void;
type Write = (data: Buffer, encoding: BufferEncoding | null, cb: WriteCb) => void;

interface ChannelInternals {
  _write: Write;
  stderr: { _write: Write };
  outgoing: { window: number; state: string };
  _waitWindow: boolean;
  _chunk?: Buffer;
  _chunkcb?: WriteCb;
  _chunkErr?: Buffer;
  _chunkcbErr?: WriteCb;
}

export function fixWindowWaits(stream: ServerChannel): void {
  const ch = stream as unknown as ChannelInternals;
  if (typeof ch._write !== 'function' || typeof ch.stderr?._write !== 'function' || typeof ch.outgoing?.window !== 'number') return;

  const out = ch._write;
  ch._write = function (data, encoding, cb) {
    const done: WriteCb = (err) => {
      if (ch._chunkcb === done) ch._chunk = ch._chunkcb = undefined;
      cb(err);
    };
    out.call(this, data, encoding, done);
  };
  const err = ch.stderr._write;
  ch.stderr._write = function (data, encoding, cb) {
    const done: WriteCb = (e) => {
      if (ch._chunkcbErr === done) ch._chunkErr = ch._chunkcbErr = undefined;
      cb(e);
    };
    err.call(this, data, encoding, done);
  };

  const resumeParked = (): void => {
    if (ch.outgoing.state !== 'open') return;
    for (const [data, cb, write] of [
      [ch._chunk, ch._chunkcb, ch._write] as const,
      [ch._chunkErr, ch._chunkcbErr, ch.stderr._write] as const,
    ]) {
      if (!data || !cb || ch.outgoing.window <= 0) continue;
      ch._waitWindow = false;
      // The parked rest goes out as the slot's own write would have: same callback.
      if (write === ch._write) ch._chunk = ch._chunkcb = undefined;
      else ch._chunkErr = ch._chunkcbErr = undefined;
      write.call(write === ch._write ? ch : ch.stderr, data, null, cb);
    }
  };
  let window = ch.outgoing.window;
  Object.defineProperty(ch.outgoing, 'window', {
    configurable: true,
    enumerable: true,
    get: () => window,
    set: (v: number) => {
      const grew = v > window;
      window = v;
      // After ssh2's handler has resumed what it resumes (it runs on synchronously).
      if (grew) queueMicrotask(resumeParked);
    },
  });
}

/**
 * RemoteFs's streams, handed out at once while their SFTP handle is still being opened: a read
 * stream that pipes the pipelined reads once the handle is open, and a Writable that passes each
 * chunk (with backpressure) to the pipelined write stream once it exists. A failure to open ends
 * either stream with that error.
 */
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { pipelinedReadStream } from '../ssh/sftp-io';

/** Reads [start, endExclusive) of the handle `opened` resolves with. */
export function readStreamWhenOpen(opened: Promise<{ sftp: SFTPWrapper; h: Buffer }>, start: number, endExclusive: number): Readable {
  const out = new PassThrough();
  opened.then(
    ({ sftp, h }) => {
      const src = pipelinedReadStream(sftp, h, start, endExclusive);
      src.on('error', (e) => out.destroy(e));
      src.pipe(out);
    },
    (e: Error) => out.destroy(e),
  );
  return out;
}

/** Writes into the stream `opened` resolves with; 'finish' once that one has finished. */
export function writeStreamWhenOpen(opened: Promise<Writable>): Writable {
  opened.catch(() => undefined);
  let sink: Writable | undefined;
  return new Writable({
    write(chunk: Buffer, _e, cb) {
      opened.then((s) => {
        sink = s;
        if (s.write(chunk)) cb();
        else s.once('drain', () => cb());
      }, cb);
    },
    final(cb) {
      opened.then((s) => {
        s.once('error', cb);
        s.end(() => cb());
      }, cb);
    },
    destroy(err, cb) {
      sink?.destroy(err ?? undefined);
      cb(err);
    },
  });
}

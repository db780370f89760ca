/**
 * Promise wrappers and pipelined reads/writes over ssh2's SFTP. ssh2's own streams keep one
 * request in flight (slow over any latency); these keep many, in chunks as large as the server's
 * negotiated limits (OpenSSH's sftp-server advertises limits@openssh.com → 255 KiB).
 */
import { Readable, Writable } from 'node:stream';
import type { InputAttributes, OpenMode, SFTPWrapper, Stats } from 'ssh2';

/** Requests kept in flight by the pipelined readers and writers. */
export const SFTP_IN_FLIGHT = 32;

export type Callback<T> = (err: Error | null | undefined, value: T) => void;

const deadSessions = new WeakSet<SFTPWrapper>();

/** Mark an SFTP session whose channel or connection is gone: ssh2 never answers requests sent
 *  after that, so every helper here fails fast on it instead of waiting forever. */
export function markSftpDead(sftp: SFTPWrapper): void {
  deadSessions.add(sftp);
}

function closedError(): Error {
  return new Error('The SFTP session is closed (connection lost).');
}

export function call<T>(sftp: SFTPWrapper, fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (deadSessions.has(sftp)) return reject(closedError());
    try {
      fn((err, value) => (err ? reject(err) : resolve(value)));
    } catch (e) {
      reject(e);
    }
  });
}

export function callVoid(sftp: SFTPWrapper, fn: (cb: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (deadSessions.has(sftp)) return reject(closedError());
    try {
      fn((err) => (err ? reject(err) : resolve()));
    } catch (e) {
      reject(e);
    }
  });
}

interface SftpLimits {
  _maxReadLen?: number;
  _maxWriteLen?: number;
  _extensions?: Record<string, string>;
}

/** Largest read / write payload the server accepts (ssh2 negotiates it via limits@openssh.com). */
export function maxReadLen(sftp: SFTPWrapper): number {
  return (sftp as unknown as SftpLimits)._maxReadLen ?? 32 * 1024;
}
export function maxWriteLen(sftp: SFTPWrapper): number {
  return (sftp as unknown as SftpLimits)._maxWriteLen ?? 32 * 1024;
}
/** True when the server offers an SFTP extension, e.g. "fsync@openssh.com". */
export function hasExtension(sftp: SFTPWrapper, name: string): boolean {
  return Object.prototype.hasOwnProperty.call((sftp as unknown as SftpLimits)._extensions ?? {}, name);
}

export function openHandle(sftp: SFTPWrapper, path: string, flags: OpenMode, attrs?: InputAttributes): Promise<Buffer> {
  return call<Buffer>(sftp, (cb) => (attrs ? sftp.open(path, flags, attrs, cb) : sftp.open(path, flags, cb)));
}
export function closeHandle(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  return callVoid(sftp, (cb) => sftp.close(handle, cb));
}
export function fstat(sftp: SFTPWrapper, handle: Buffer): Promise<Stats> {
  return call<Stats>(sftp, (cb) => sftp.fstat(handle, cb));
}

function readAt(sftp: SFTPWrapper, handle: Buffer, buf: Buffer, off: number, len: number, position: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (deadSessions.has(sftp)) return reject(closedError());
    try {
      sftp.read(handle, buf, off, len, position, (err, n) => (err ? reject(err) : resolve(n ?? 0)));
    } catch (e) {
      reject(e);
    }
  });
}

function writeAt(sftp: SFTPWrapper, handle: Buffer, buf: Buffer, position: number): Promise<void> {
  return callVoid(sftp, (cb) => sftp.write(handle, buf, 0, buf.length, position, cb));
}

/** Write `data` at `position` with many requests in flight. */
export async function writeAll(sftp: SFTPWrapper, handle: Buffer, data: Buffer, position = 0): Promise<void> {
  const chunk = maxWriteLen(sftp);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < data.length) {
      const start = next;
      next = Math.min(data.length, start + chunk);
      await writeAt(sftp, handle, data.subarray(start, next), position + start);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SFTP_IN_FLIGHT, Math.ceil(data.length / chunk) || 1) }, worker));
}

/** Read `length` bytes from `position` (fewer at end of file) with many requests in flight. */
export async function readRange(sftp: SFTPWrapper, handle: Buffer, position: number, length: number): Promise<Buffer> {
  const chunk = maxReadLen(sftp);
  const buf = Buffer.alloc(length);
  let next = 0;
  let eofAt = length;
  const worker = async (): Promise<void> => {
    while (next < Math.min(length, eofAt)) {
      let off = next;
      const end = Math.min(length, off + chunk);
      next = end;
      while (off < end && off < eofAt) {
        const n = await readAt(sftp, handle, buf, off, end - off, position + off);
        if (n === 0) {
          eofAt = Math.min(eofAt, off);
          break;
        }
        off += n; // a short read: ask again for the rest of this chunk
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SFTP_IN_FLIGHT, Math.ceil(length / chunk) || 1) }, worker));
  return eofAt < length ? buf.subarray(0, eofAt) : buf;
}

/** A Readable over an open handle, SFTP_IN_FLIGHT chunks read ahead. Closes the handle at the end. */
export function pipelinedReadStream(sftp: SFTPWrapper, handle: Buffer, start = 0, end = Infinity): Readable {
  const chunk = maxReadLen(sftp);
  let position = start;
  let eof = false;
  const pending: { read: Promise<Buffer>; len: number }[] = [];
  const fill = (): void => {
    while (!eof && pending.length < SFTP_IN_FLIGHT && position < end) {
      const len = Math.min(chunk, end - position);
      const read = readRange(sftp, handle, position, len);
      read.catch(() => undefined); // observed when shifted; never unhandled if dropped at EOF
      pending.push({ read, len });
      position += len;
    }
  };
  let closed = false;
  const closeOnce = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await closeHandle(sftp, handle).catch(() => undefined);
  };
  return new Readable({
    highWaterMark: chunk * 4,
    read() {
      fill();
      const head = pending.shift();
      if (!head) {
        void closeOnce().then(() => this.push(null));
        return;
      }
      head.read.then(
        (buf) => {
          if (buf.length < head.len) {
            eof = true; // later reads are past the end: drop them
            pending.length = 0;
          }
          if (buf.length > 0) this.push(buf);
          else void closeOnce().then(() => this.push(null));
        },
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, cb) {
      eof = true;
      void closeOnce().then(() => cb(err));
    },
  });
}

/** A Writable over an open handle (writes at increasing offsets from `start`, SFTP_IN_FLIGHT in flight).
 *  finish = every write acknowledged and the handle closed. */
export function pipelinedWriteStream(sftp: SFTPWrapper, handle: Buffer, start = 0): Writable {
  const chunk = maxWriteLen(sftp);
  let position = start;
  let inFlight = 0;
  let failed: Error | undefined;
  let waiter: (() => void) | undefined;
  const settle = (): void => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  const send = (buf: Buffer): void => {
    for (let off = 0; off < buf.length; off += chunk) {
      const piece = buf.subarray(off, Math.min(buf.length, off + chunk));
      const at = position;
      position += piece.length;
      inFlight++;
      writeAt(sftp, handle, piece, at).then(
        () => {
          inFlight--;
          settle();
        },
        (err: Error) => {
          inFlight--;
          failed ??= err;
          settle();
        },
      );
    }
  };
  const whenBelow = (limit: number, cb: (err?: Error | null) => void): void => {
    if (failed) return cb(failed);
    if (inFlight < limit) return cb();
    waiter = () => whenBelow(limit, cb);
  };
  return new Writable({
    highWaterMark: chunk,
    write(data: Buffer, _enc, cb) {
      if (failed) return cb(failed);
      send(data);
      whenBelow(SFTP_IN_FLIGHT, cb);
    },
    final(cb) {
      whenBelow(1, (err) => {
        if (err) return cb(err);
        closeHandle(sftp, handle).then(
          () => cb(),
          (e: Error) => cb(e),
        );
      });
    },
    destroy(err, cb) {
      if (err) void closeHandle(sftp, handle).catch(() => undefined);
      cb(err);
    },
  });
}

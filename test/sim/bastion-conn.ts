/**
 * One client connection of the simulated bastion, and the faults a test arms on it
 * (Bastion.dropConnections / cutNewConnections): cut after so many bytes towards the client, or
 * after a given request and so many of the pod's answers to it.
 */
import type { Socket } from 'node:net';
import type { ServerChannel } from 'ssh2';
import type { PodProcess } from './contracts';

export interface Conn {
  socket: Socket;
  podId?: string;
  /** Set by dropConnections({afterBytes}) / cutNewConnections: bytes still allowed towards the client. */
  bytesLeft?: number;
  /** Set by dropConnections({afterRequest}): the request text to wait for, and then how many of the
   *  pod's answers still go through before the connection is cut (instead of the next one). */
  request?: { marker: Buffer; seen: Buffer; answersFirst: number; answersLeft?: number };
  sessions: number;
  /** Processes started for this connection (hung up when it goes away). */
  procs: Set<PodProcess>;
  lastActivity: number;
}

/** With dropConnections({afterBytes}) / cutNewConnections armed, the connection is cut once that
 *  many bytes went towards the client (the rest of the chunk never reaches it). */
export function cutAfterBytes(conn: Conn): void {
  const socket = conn.socket;
  const write = socket.write.bind(socket) as (chunk: Buffer | string, ...rest: unknown[]) => boolean;
  socket.write = ((chunk: Buffer | string, ...rest: unknown[]): boolean => {
    if (conn.bytesLeft !== undefined) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (buf.length >= conn.bytesLeft) {
        const part = buf.subarray(0, conn.bytesLeft);
        conn.bytesLeft = 0;
        if (part.length) write(part);
        setImmediate(() => socket.destroy());
        return false;
      }
      conn.bytesLeft -= buf.length;
    }
    return write(chunk, ...rest);
  }) as Socket['write'];
}

/** With dropConnections({afterRequest}) armed, the pod's answers after the request are counted
 *  and the connection cut at the first one not let through: that answer never reaches the client. */
export function gateAnswers(conn: Conn, stream: ServerChannel): void {
  const write = stream.write.bind(stream) as (chunk: Buffer | string, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: Buffer | string, ...rest: unknown[]): boolean => {
    const r = conn.request;
    if (r?.answersLeft !== undefined && chunk.length > 0) {
      if (r.answersLeft === 0) {
        conn.request = undefined;
        conn.socket.destroy();
        return false;
      }
      r.answersLeft--;
    }
    return write(chunk, ...rest);
  }) as ServerChannel['write'];
}

export function watchForRequest(r: NonNullable<Conn['request']>, b: Buffer): void {
  if (r.answersLeft !== undefined) return;
  // Keep the tail of what came before, so a marker split across two chunks is found too.
  const text = Buffer.concat([r.seen, b]);
  if (text.includes(r.marker)) r.answersLeft = r.answersFirst;
  else r.seen = text.subarray(Math.max(0, text.length - r.marker.length + 1));
}

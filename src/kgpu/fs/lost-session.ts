/**
 * What the kgpu: file system does when the SFTP connection drops under an operation: check whether
 * a non-idempotent change took effect before doing it again, read a big file again from the start,
 * and fail an operation that a dropped channel left hanging (guardSession).
 */
import { ConnectionLostError } from '../ssh/ssh-errors';
import type { RemoteFs, RemoteStat } from './remote-fs';
import { classify, isTransportError } from './workspace-fs-error';

export async function lstatOrUndefined(rfs: RemoteFs, p: string): Promise<RemoteStat | undefined> {
  try {
    return await rfs.lstat(p);
  } catch (e) {
    if (classify(e, '', p).kind === 'NotFound') return undefined;
    throw e;
  }
}

export async function lexists(rfs: RemoteFs, p: string): Promise<boolean> {
  return (await lstatOrUndefined(rfs, p)) !== undefined;
}

/** Run a non-idempotent operation; if the connection dropped during it, check whether it took
 *  effect and otherwise run it once more (on a fresh connection). */
export async function retryIfLost(op: () => Promise<void>, tookEffect: () => Promise<boolean>): Promise<void> {
  try {
    await op();
  } catch (e) {
    if (!(e instanceof ConnectionLostError)) throw e;
    if (await tookEffect()) return;
    await op();
  }
}

/** Read a big file through a pipelined stream, refusing to hold more than `max` bytes; retried
 *  once from the start if the connection drops. */
export async function readStreamed(rfs: RemoteFs, p: string, max: number): Promise<Buffer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        let n = 0;
        const s = rfs.createReadStream(p);
        s.on('data', (b: Buffer) => {
          n += b.length;
          if (n > max) {
            s.destroy();
            resolve(Buffer.concat([...parts, b]));
            return;
          }
          parts.push(b);
        });
        s.once('error', reject);
        s.once('end', () => resolve(Buffer.concat(parts, n)));
      });
    } catch (e) {
      // A status from the pod (numeric SFTP code, RemoteFsError) is an answer; anything else is a lost channel.
      const code = (e as { code?: unknown }).code;
      if (attempt === 0 && (isTransportError(e) || (typeof code !== 'number' && typeof code !== 'string'))) continue;
      throw e;
    }
  }
}

/** Thrown when an operation was left hanging by a dropped SFTP connection. */
export class StuckOnLostSession extends ConnectionLostError {}

/**
 * WORKAROUND (remove once sftp-io.ts fails requests on a closed channel): ssh2's SFTP answers
 * the requests pending when its channel ends ("No response from server"), but a request issued
 * after that (RemoteFs closes the file handle in a `finally`) is never answered, so the operation
 * hangs forever. We watch RemoteFs's current SFTP connection: if it closes while `op` is pending and
 * `op` has not settled (or moved to a new connection) shortly after, it is failed as lost.
 */
export async function guardSession<T>(rfs: RemoteFs, op: () => Promise<T>): Promise<T> {
  const pending = op();
  const settled = pending.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  for (;;) {
    const conn = rfs.activeSession()?.conn;
    if (!conn) break;
    const first = await Promise.race([settled, conn.closed.then(() => 'closed' as const)]);
    if (first !== 'closed') break;
    const later = await Promise.race([settled, new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 750))]);
    if (later !== 'stuck') break;
    const now = rfs.activeSession();
    if (now && now.conn !== conn && now.alive) continue; // RemoteFs reconnected and carries on
    void pending.catch(() => undefined);
    throw new StuckOnLostSession('a file operation (the SFTP connection closed under it)');
  }
  const r = await settled;
  if ('error' in r) throw r.error;
  return r.value;
}

/** Make sure RemoteFs has its SFTP session open before an operation (so guardSession can watch it). */
export async function ensureSession(rfs: RemoteFs): Promise<void> {
  if (rfs.activeSession()?.alive) return;
  await rfs.ensureOpen();
}

/**
 * RemoteFs's errors: a Node-style code and the path, made from SFTP's status codes; anything that
 * is not an SFTP status means the channel or connection is gone (RemoteFs reports ConnectionLostError).
 */
import { KgpuError } from '../util/kgpu-error';

export type RemoteFsErrorCode = 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'EACCES' | 'EIO' | 'EFBIG';

/** A file-system error with a Node-style code, the path, and SFTP's status when there was one. */
export class RemoteFsError extends KgpuError {
  constructor(
    readonly code: RemoteFsErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('fs', code, message, options);
    this.name = 'RemoteFsError';
  }
}

export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;

export /** An SFTP status error (numeric code) as opposed to a lost channel/connection. */
function isStatusError(e: unknown): e is Error & { code: number } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number';
}

/** An SFTP status error of `what` on `target` as a RemoteFsError (ENOENT, EACCES, else EIO). */
export function mapSftpError(e: unknown, what: string, target: string): Error {
  if (e instanceof RemoteFsError) return e;
  const status = (e as { code: number }).code;
  const msg = (e as Error).message;
  if (status === SFTP_NO_SUCH_FILE)
    return new RemoteFsError('ENOENT', target, `${what}: no such file or directory in the pod: ${target}`, { cause: e });
  if (status === SFTP_PERMISSION_DENIED)
    return new RemoteFsError('EACCES', target, `${what}: permission denied in the pod: ${target}`, { cause: e });
  return new RemoteFsError('EIO', target, `${what} ${target} failed in the pod: ${msg}`, { cause: e });
}

/**
 * Paths in the pod as the kgpu: file system sees them: normalised absolute POSIX paths, and the
 * 255-byte cap on one name that the pod's file system has (refused with a message that says so —
 * sftp-server would answer only "Bad message").
 */
import path from 'node:path';
import { MAX_NAME_BYTES } from '../util/temp-name';
import { fsError } from './workspace-fs-error';

const posix = path.posix;

/** Bytes of the longest name in a path (file systems cap a name at 255 bytes). */
export function longestNameBytes(p: string): number {
  return Math.max(0, ...p.split('/').map((n) => Buffer.byteLength(n)));
}

/** Refuse a name the pod's file system cannot hold, with a message that says so (sftp-server
 *  would answer only "Bad message"). */
export function assertNameLength(podId: string, p: string): void {
  const n = longestNameBytes(p);
  if (n > MAX_NAME_BYTES) {
    throw fsError(
      'Other',
      podId,
      p,
      `A file or folder name is ${n} bytes long; names in the pod can have at most ${MAX_NAME_BYTES} bytes. Choose a shorter name.`,
    );
  }
}

/** `p` as an absolute, normalised path without a trailing slash ("/" stays "/"). */
export function norm(p: string): string {
  const n = posix.normalize(p.startsWith('/') ? p : `/${p}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

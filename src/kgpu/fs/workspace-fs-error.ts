/**
 * Typed errors of the pod file system (workspace-fs.ts). The editor adapter maps `kind` onto
 * `vscode.FileSystemError` (NotFound → FileNotFound, …, PodEnded → Unavailable); every message
 * names the pod and the path and says what to do next.
 */
import { RemoteFsError } from './remote-fs';
import { KgpuError } from '../util/kgpu-error';
import { AuthRejectedError, SshAbortedError, SshError } from '../ssh/ssh-errors';

export type WorkspaceFsErrorKind =
  | 'NotFound'
  | 'Exists'
  | 'IsADirectory'
  | 'NotADirectory'
  | 'NoPermissions'
  | 'Unavailable'
  | 'PodEnded'
  | 'TooLarge'
  | 'Cancelled'
  | 'Other';

export class WorkspaceFsError extends KgpuError {
  constructor(
    override readonly kind: WorkspaceFsErrorKind,
    readonly podId: string,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('fs', kind, message, options);
    this.name = 'WorkspaceFsError';
  }
}

export function fsError(kind: WorkspaceFsErrorKind, podId: string, path: string, detail: string, cause?: unknown): WorkspaceFsError {
  const where = `${path} (pod ${podId})`;
  const text: Record<WorkspaceFsErrorKind, string> = {
    NotFound: `No such file or folder: ${where}.`,
    Exists: `Already exists: ${where}.`,
    IsADirectory: `Is a folder, not a file: ${where}.`,
    NotADirectory: `Not a folder: ${where}.`,
    NoPermissions: `Permission denied: ${where}.`,
    Unavailable: `The pod is unreachable for ${where}.`,
    PodEnded: `pod ended: ${detail} — ${where} can no longer be changed; unsaved edits stay in the editor (Save As… to keep them locally).`,
    TooLarge: `Too large to open in the editor: ${where}.`,
    Cancelled: `Cancelled: ${where}.`,
    Other: `Failed: ${where}.`,
  };
  const message = kind === 'PodEnded' ? text.PodEnded : detail ? `${text[kind]} ${detail}` : text[kind];
  return new WorkspaceFsError(kind, podId, path, message, { cause });
}

/** True for failures of the SSH transport (as opposed to a file-system answer from the pod). */
export function isTransportError(e: unknown): boolean {
  return e instanceof SshError && !(e instanceof SshAbortedError);
}

/** Classify any error from RemoteFs / ssh-exec into a WorkspaceFsError for `path`. */
export function classify(e: unknown, podId: string, path: string): WorkspaceFsError {
  if (e instanceof WorkspaceFsError) return e;
  if (e instanceof RemoteFsError) {
    const kinds: Record<RemoteFsError['code'], WorkspaceFsErrorKind> = {
      ENOENT: 'NotFound',
      EEXIST: 'Exists',
      EISDIR: 'IsADirectory',
      ENOTDIR: 'NotADirectory',
      EACCES: 'NoPermissions',
      EIO: 'Other',
      EFBIG: 'TooLarge',
    };
    const kind = kinds[e.code];
    return fsError(kind, podId, path, kind === 'Other' || kind === 'TooLarge' ? e.message : '', e);
  }
  if (e instanceof SshAbortedError) return fsError('Cancelled', podId, path, '', e);
  if (e instanceof AuthRejectedError) return fsError('Unavailable', podId, path, e.message, e);
  if (e instanceof SshError) return fsError('Unavailable', podId, path, e.message, e);
  const msg = e instanceof Error ? e.message : String(e);
  return fsError('Other', podId, path, msg, e);
}

/**
 * Whole-file reads and saves within the editor's size limit (setting kgpu.maxEditorFileSizeMB):
 * reads bounded whatever the pod's size says (streamed above STREAM_ABOVE), the "too large"
 * messages that point at Download…/Upload…, and what a save that lost the pod tells the user.
 */
import { RemoteFs, RemoteFsError } from './remote-fs';
import { WorkspaceFsError, fsError } from './workspace-fs-error';
import { readStreamed } from './lost-session';

/** Files above this are read in streamed chunks rather than one SFTP read loop. */
export const STREAM_ABOVE = 16 * 1024 * 1024;
/** The editor's file size limit when no setting says otherwise. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

export function mb(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

/** A file too large to open in the editor (`size` undefined: it grew past the limit while read). */
export function tooLargeToRead(podId: string, p: string, size: number | undefined, max: number): WorkspaceFsError {
  return fsError(
    'TooLarge',
    podId,
    p,
    `It is ${size === undefined ? 'more than ' + mb(max) : mb(size)}; the limit is ${mb(max)} (setting kgpu.maxEditorFileSizeMB). Use "kgpu: Download…" to copy it to this machine instead.`,
  );
}

/** A save refused before anything is sent: the pod's copy stays as it was, the editor keeps the text. */
export function tooLargeToSave(podId: string, p: string, size: number, max: number): WorkspaceFsError {
  return fsError(
    'TooLarge',
    podId,
    p,
    `Not saved: it is ${mb(size)}; the limit is ${mb(max)} (setting kgpu.maxEditorFileSizeMB). Save it locally and use "kgpu: Upload…" instead.`,
  );
}

/** Read `p` whole, whose stat said `size` bytes, failing with TooLarge past `max` (bounded whatever
 *  the size said: a symlink to /dev/zero says 0 and never ends). */
export async function readBounded(rfs: RemoteFs, podId: string, p: string, size: number, max: number): Promise<Buffer> {
  const data =
    size <= STREAM_ABOVE
      ? await rfs.readFile(p, { maxBytes: max }).catch((e: unknown) => {
          throw e instanceof RemoteFsError && e.code === 'EFBIG' ? tooLargeToRead(podId, p, undefined, max) : e;
        })
      : await readStreamed(rfs, p, max);
  if (data.length > max) throw tooLargeToRead(podId, p, data.length, max);
  return data;
}

/** A save that failed for want of the pod: say what the file in the pod holds now. Before the
 *  rename was sent it is untouched; after, the connection may have dropped before or after the
 *  pod did the rename, so it is the old or the new content — whole either way — and nobody here
 *  can tell which. */
export function notSaved(e: WorkspaceFsError, renameSent: boolean): WorkspaceFsError {
  const what = renameSent
    ? 'The save may or may not have landed: the connection dropped just as the pod was replacing the file, so it now holds either the old or the new content, whole (never a partial file).'
    : 'Not saved: the file in the pod is unchanged.';
  const detail = e.cause instanceof Error ? ` ${e.cause.message}` : '';
  return fsError('Unavailable', e.podId, e.path, `${what} Save again once the pod is reachable.${detail}`, e.cause ?? e);
}

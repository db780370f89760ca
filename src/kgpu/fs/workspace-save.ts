/**
 * A save (WorkspaceFs.writeFile once the content is within the size limit): the create/overwrite
 * rules checked (from the cache when both are allowed), then the content written atomically (a temp
 * file beside the target renamed over it) and re-stat'ed, retried on a fresh connection when the
 * connection drops. The mtime reported afterwards advances even within SFTP's 1 s resolution. When
 * the rename was acknowledged the file is saved even if the stat after it was lost; a failure before
 * that says whether the rename may have landed.
 */
import type { RemoteStat } from './remote-fs';
import type { WorkspaceFsCache } from './workspace-fs-cache';
import { WorkspaceFsError, fsError } from './workspace-fs-error';
import { checkWriteTarget } from './fs-preconditions';
import type { PodRunner } from './pod-runner';
import type { ReportedMtimes } from './workspace-stat';
import { notSaved } from './file-contents';

export interface WorkspaceSaveOptions {
  podId: string;
  cache: WorkspaceFsCache;
  runner: PodRunner;
  reported: ReportedMtimes;
  /** We are about to change these paths (the watch's echo of it is not news). */
  expectOwn: (paths: string[]) => void;
}

/** Save `data` at `p`; resolves with whether a file was there before (undefined: not known). */
export async function saveFile(
  o: WorkspaceSaveOptions,
  p: string,
  data: Buffer,
  flags: { create: boolean; overwrite: boolean },
): Promise<boolean | undefined> {
  const { podId, cache, runner } = o;
  let existed: boolean | undefined;
  if (!flags.create || !flags.overwrite) {
    await runner.run(
      p,
      async (rfs) => {
        existed = await checkWriteTarget(rfs, podId, p, flags);
      },
      { idempotent: true },
    );
  } else {
    const c = cache.stat(p);
    if (c?.type === 'directory') throw fsError('IsADirectory', podId, p, '');
    existed = c === undefined ? undefined : c !== null;
  }
  // From here on a retry is safe: the write replaces the file atomically under a fresh temp name.
  const previous = lastMtime(o, p);
  let renameSent = false;
  let saved = false;
  try {
    await runner.run(
      p,
      async (rfs) => {
        if (!saved) {
          o.expectOwn([p]);
          await rfs.atomicWrite(p, data, { onRename: () => (renameSent = true) });
          saved = true;
          cache.invalidate(p);
        }
        const st = await rfs.stat(p);
        noteWritten(o, p, st, previous);
        cache.putContent(p, new Uint8Array(data), st);
      },
      { idempotent: true },
    );
  } catch (e) {
    // The pod acknowledged the rename: the file is saved; only the stat after it was lost (the
    // next stat asks the pod again). A rename sent but not acknowledged may have landed: what
    // we cached of the file may be stale.
    if (renameSent) cache.invalidate(p);
    if (!saved) throw e instanceof WorkspaceFsError && e.kind === 'Unavailable' ? notSaved(e, renameSent) : e;
  }
  return existed;
}

/** Record a stat we got right after writing `p`: mtime strictly after what we reported before. */
function noteWritten(o: WorkspaceSaveOptions, p: string, st: RemoteStat, previousMtime: number | undefined): void {
  o.reported.noteWritten(p, st, previousMtime);
  o.cache.putStat(p, st);
}

function lastMtime(o: WorkspaceSaveOptions, p: string): number | undefined {
  const r = o.reported.get(p);
  if (r) return r.mtime;
  const c = o.cache.stat(p);
  return c ? c.mtimeMs : undefined;
}

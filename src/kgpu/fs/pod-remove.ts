/**
 * Deleting a path in the pod: a folder recursively (rm -rf) or only when empty (rmdir over exec,
 * which says why it refused), a file or link unlinked — checked afterwards when the connection
 * dropped under the unlink, and sent once more only if it did not take effect.
 */
import type { PodConnector } from '../ssh/ssh-connection';
import type { RemoteFs, RemoteStat } from './remote-fs';
import { exec } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { fsError } from './workspace-fs-error';
import { lexists, retryIfLost } from './lost-session';

/** Remove `p` (whose lstat is `st`) from the pod; a non-empty folder only when `recursive`. */
export async function removeInPod(
  rfs: RemoteFs,
  connector: PodConnector,
  podId: string,
  p: string,
  st: RemoteStat,
  recursive: boolean,
): Promise<void> {
  if (st.type === 'directory' && !st.isSymbolicLink) {
    if (recursive) await rfs.rmrf(p);
    else {
      const r = await exec(connector, `rmdir -- ${quote(p)}`);
      if (r.exitCode !== 0) {
        throw fsError(
          'Other',
          podId,
          p,
          `${r.stderr.toString('utf8').trim() || 'rmdir failed'}; delete it recursively to remove its contents.`,
        );
      }
    }
  } else {
    await retryIfLost(
      () => rfs.unlink(p),
      async () => (await rfs.tryStat(p)) === undefined && !(await lexists(rfs, p)),
    );
  }
}

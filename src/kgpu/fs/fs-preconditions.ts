/**
 * The checks WorkspaceFs makes in the pod before it changes anything: the rules of
 * `vscode.FileSystemProvider`'s writeFile/createDirectory/rename/copy (what must exist, what must
 * not, what it may overwrite), each failing with the WorkspaceFsError the editor maps to its own.
 * Each runs inside the operation's PodRunner step, on its RemoteFs.
 */
import path from 'node:path';
import type { RemoteFs, RemoteStat } from './remote-fs';
import { fsError } from './workspace-fs-error';
import { lstatOrUndefined } from './lost-session';

const posix = path.posix;

/** writeFile without create or without overwrite: the target as the flags allow; whether it existed. */
export async function checkWriteTarget(
  rfs: RemoteFs,
  podId: string,
  p: string,
  flags: { create: boolean; overwrite: boolean },
): Promise<boolean> {
  const st = await rfs.tryStat(p);
  if (!st && !flags.create) throw fsError('NotFound', podId, p, 'Nothing to overwrite.');
  if (st?.type === 'directory') throw fsError('IsADirectory', podId, p, '');
  if (st && !flags.overwrite) throw fsError('Exists', podId, p, '');
  return st !== undefined;
}

/** createDirectory: nothing at `p`, and its parent is a folder. */
export async function checkNewDirectory(rfs: RemoteFs, podId: string, p: string): Promise<void> {
  const [st, parent] = await Promise.all([rfs.tryStat(p), rfs.tryStat(posix.dirname(p))]);
  if (st) throw fsError('Exists', podId, p, '');
  if (!parent) throw fsError('NotFound', podId, posix.dirname(p), 'The parent folder does not exist.');
  if (parent.type !== 'directory') throw fsError('NotADirectory', podId, posix.dirname(p), '');
}

/** delete: never the root folder. */
export function checkDeletable(podId: string, p: string): void {
  if (p === '/') throw fsError('NoPermissions', podId, p, 'Refusing to delete the root folder.');
}

/** rename/copy: the source exists (rename: the link itself, copy: what it points to), the target's
 *  folder exists, and the target does not unless `overwrite`; resolves to the target's lstat. */
export async function checkMoveTarget(
  rfs: RemoteFs,
  podId: string,
  from: string,
  to: string,
  options: { overwrite: boolean; source: 'link' | 'target' },
): Promise<RemoteStat | undefined> {
  const [src, dst, parent] = await Promise.all([
    options.source === 'link' ? lstatOrUndefined(rfs, from) : rfs.tryStat(from),
    lstatOrUndefined(rfs, to),
    rfs.tryStat(posix.dirname(to)),
  ]);
  if (!src) throw fsError('NotFound', podId, from, '');
  if (!parent) throw fsError('NotFound', podId, posix.dirname(to), 'The target folder does not exist.');
  if (dst && !options.overwrite) throw fsError('Exists', podId, to, '');
  return dst;
}

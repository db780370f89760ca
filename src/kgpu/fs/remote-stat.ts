/**
 * What RemoteFs says about a file: its type (following symlinks, with the link itself flagged),
 * size, permission bits, times and owner — made from ssh2's SFTP attributes.
 */
import type { Stats } from 'ssh2';

export type RemoteFileType = 'file' | 'directory' | 'symlink' | 'other';

export interface RemoteStat {
  /** For stat(): the type of what a symlink points to ('symlink' only for a dangling link). */
  type: RemoteFileType;
  /** True when the path itself is a symbolic link. */
  isSymbolicLink: boolean;
  size: number;
  /** Permission bits (e.g. 0o644), without the file-type bits. */
  mode: number;
  mtimeMs: number;
  atimeMs: number;
  uid: number;
  gid: number;
}

export interface RemoteDirEntry {
  name: string;
  stat: RemoteStat;
}

/** A RemoteStat from SFTP attributes: `s` of the path itself, `target` of what it points to
 *  (absent for a link: the link itself, as lstat or a dangling link describes it). */
export function toRemoteStat(s: Stats, isLink: boolean, target?: Stats): RemoteStat {
  const t = target ?? s;
  const type: RemoteFileType =
    target === undefined && isLink
      ? 'symlink'
      : t.isDirectory()
        ? 'directory'
        : t.isFile()
          ? 'file'
          : t.isSymbolicLink()
            ? 'symlink'
            : 'other';
  return {
    type,
    isSymbolicLink: isLink,
    size: t.size,
    mode: t.mode & 0o7777,
    mtimeMs: t.mtime * 1000,
    atimeMs: t.atime * 1000,
    uid: t.uid,
    gid: t.gid,
  };
}

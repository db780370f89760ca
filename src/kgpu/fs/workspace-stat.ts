/**
 * What stat answers to the editor: FileKind bits, a read-only flag from the mode and who we are in
 * the pod, and an mtime kept strictly increasing across our own writes (SFTP's mtime has 1 s
 * resolution, so two saves within a second would otherwise look unchanged).
 */
import type { PodConnector } from '../ssh/ssh-connection';
import { exec } from '../ssh/ssh-exec';
import type { RemoteStat } from './remote-fs';

/** Same values as `vscode.FileType` (a bit mask: a symlink to a file is File | SymbolicLink). */
export const FileKind = { Unknown: 0, File: 1, Directory: 2, SymbolicLink: 64 } as const;

export interface WorkspaceStat {
  /** FileKind bits. */
  type: number;
  /** Milliseconds since the epoch (SFTP has no ctime: the mtime). */
  ctime: number;
  mtime: number;
  size: number;
  /** The user may not write it (its mode says so, or the pod has ended). */
  readonly: boolean;
}

/** Who we are in the pod (`id -u`, `id -G`). */
export interface PodIdentity {
  uid: number;
  gids: Set<number>;
}

/** Our identity in the pod, or undefined when it cannot be told. */
export async function fetchIdentity(connector: PodConnector): Promise<PodIdentity | undefined> {
  try {
    const r = await exec(connector, 'id -u; id -G');
    const [uid, gids] = r.stdout.toString('utf8').trim().split('\n');
    const u = Number(uid);
    if (r.exitCode !== 0 || !Number.isInteger(u)) return undefined;
    return { uid: u, gids: new Set((gids ?? '').split(/\s+/).filter(Boolean).map(Number)) };
  } catch {
    return undefined;
  }
}

/** May `id` write a file with this stat (without an identity: its owner bit)? */
export function canWrite(st: RemoteStat, id: PodIdentity | undefined): boolean {
  if (!id) return (st.mode & 0o200) !== 0;
  // root may write anything, but a file nobody may write is meant to be read-only.
  if (id.uid === 0) return (st.mode & 0o222) !== 0;
  if (st.uid === id.uid) return (st.mode & 0o200) !== 0;
  if (id.gids.has(st.gid)) return (st.mode & 0o020) !== 0;
  return (st.mode & 0o002) !== 0;
}

/** The FileKind bits of a RemoteStat. */
export function fileKind(st: RemoteStat): number {
  let type: number = st.type === 'directory' ? FileKind.Directory : st.type === 'file' ? FileKind.File : FileKind.Unknown;
  if (st.isSymbolicLink) type |= FileKind.SymbolicLink;
  return type;
}

/** What we last reported per path after our own writes: mtime kept monotonic across writes within one second. */
export class ReportedMtimes {
  private readonly reported = new Map<string, { remoteMs: number; size: number; mtime: number }>();

  get(p: string): { remoteMs: number; size: number; mtime: number } | undefined {
    return this.reported.get(p);
  }

  delete(p: string): void {
    this.reported.delete(p);
  }

  /** The mtime to report for `st`: ours while the pod's file is still what we wrote, else its own. */
  mtimeFor(p: string, st: RemoteStat): number {
    const o = this.reported.get(p);
    if (o && o.remoteMs === st.mtimeMs && o.size === st.size) return o.mtime;
    if (o) this.reported.delete(p);
    return st.mtimeMs;
  }

  /** Record a stat we got right after writing `p`: mtime strictly after what we reported before. */
  noteWritten(p: string, st: RemoteStat, previousMtime: number | undefined): void {
    const mtime = previousMtime === undefined ? st.mtimeMs : Math.max(st.mtimeMs, previousMtime + 1);
    this.reported.set(p, { remoteMs: st.mtimeMs, size: st.size, mtime });
    if (this.reported.size > 10_000) this.reported.delete(this.reported.keys().next().value as string);
  }
}

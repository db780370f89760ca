/**
 * Incremental upload of a local folder to a pod over as few exec channels as possible (the bastion
 * is single-channel per connection); pull (pull.ts) is the way back:
 *
 * syncUp — 1 round trip when nothing changed, 2 otherwise:
 *   1. probe: read the pod's manifest and `stat` (size, mtime) the tree's files in one exec;
 *   2. upload: every changed file in ONE tar stream into `tar -x` in a staging directory under
 *      `<remoteDir>/.kgpu/`, then each file is renamed over its target (atomic per file: no half
 *      file under a target name), opt-in deletions, and the manifest's changed lines appended.
 *   A file is sent when the pod's manifest lacks it, its hash differs from the local content, or
 *   the pod's copy no longer matches the manifest (edited in the pod, lost with a new pod).
 *   `runAfter` (e.g. a job's start) runs in the pod at the end of the upload exec, only once the
 *   pod's copy is known complete: after a full check, or when the stat of every file not sent
 *   equals what we expect (compared in the pod) — so a run costs one exec, not two.
 * The upload round's exec is sync-upload.ts.
 *
 * Names travel inside the tar stream, as NUL-separated lists or as single-quoted words (arguments, the
 * upload round's sourced steps), never as shell code.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import { eachLimited } from '../util/async';
import type { ChangeType, PathChange } from '../util/change-coalescer';
import { sha256File } from '../util/hash';
import { scanTree, type LocalFile } from './ignore-rules';
import type { SkippedLink } from './local-links';
import { LocalHashCache, parseRemoteManifest, type RemoteManifest } from './sync-manifest';
import { aborted, SyncError } from './sync-error';
import { linkHash, parseStats, uploadRound, type RemoteStat } from './sync-upload';

// Importing these from here keeps working.
export { SyncError } from './sync-error';
export { pull, type PullOptions, type PullResult } from './pull';

export interface SyncProgress {
  phase: 'scanning' | 'hashing' | 'uploading';
  files: number;
  bytes: number;
  totalFiles: number;
  totalBytes: number;
}

export interface SyncUpOptions {
  /** Patterns in gitignore syntax (kgpu.syncExclude), relative to localDir. */
  exclude?: readonly string[];
  /** Honour .gitignore files (default true). */
  gitignore?: boolean;
  /** Delete from the pod files that this sync once uploaded and that are now gone locally
   *  (default false: nothing is ever deleted in the pod). */
  deleteRemoved?: boolean;
  /** Where to keep the local hash cache and the record of what each target holds (e.g. the
   *  editor's global storage). Without it every sync re-reads every file and takes 2 round trips. */
  stateDir?: string;
  /** Names the pod (e.g. its pod id) so the local record of what it holds is per pod. */
  target?: string;
  signal?: AbortSignal;
  onProgress?(p: SyncProgress): void;
  /** A shell command line to run in the pod in the same exec, right after the sync, only once the
   *  pod's copy is known complete (see the file comment). Its exit code and stderr are in
   *  `ranAfter`; when it was not run there (nothing to upload after a probe), `ranAfter` is
   *  undefined and the caller runs it itself. */
  runAfter?: string;
  /** What `runAfter` reads on its stdin (e.g. a job's environment — secrets, never in its command
   *  line): sent inside the upload stream as a 0600 file that the pod opens and removes before it
   *  runs the command. */
  runAfterStdin?: Buffer;
}

export interface SyncResult {
  uploadedFiles: number;
  /** File content bytes sent. */
  uploadedBytes: number;
  skippedFiles: number;
  deletedFiles: number;
  durationMs: number;
  /** Everything written to the pod's stdin (after compression): the probe's path list, the tar
   *  stream with headers, padding and manifest lines. */
  wireBytes: number;
  /** SSH execs used: 1 when nothing changed or when an edit could be sent and verified at once
   *  (local state known), else 2 (3 when the pod's copy had changed under us). */
  roundTrips: number;
  /** The outcome of `runAfter` when it ran in the sync's exec. */
  ranAfter?: { exitCode: number | null; stderr: string };
  /** Symbolic links not synced: they lead out of the folder, loop, or dangle (see local-links.ts).
   *  Links inside the folder are recreated as links in the pod. */
  skippedLinks: SkippedLink[];
  /** What this sync changed in the pod, as absolute paths: each file sent ('created' where the pod
   *  had no copy), each file deleted, and the folder and the folders above each created file
   *  ('changed') — for PodSession.notifyPathsChanged, so an open kgpu: explorer shows them. */
  changes: PathChange[];
}

const PROBE_SCRIPT = String.raw`if ! cd -- "$1" 2>/dev/null; then cat > /dev/null; exit 0; fi
cat .kgpu/manifest.jsonl 2>/dev/null
printf '\0'
gzip -dc | xargs -0 -r stat --printf '%s %Y %n\0' -- 2>/dev/null
exit 0
`;

function parseProbe(out: Buffer): {
  manifest: RemoteManifest;
  manifestLines: number;
  manifestExists: boolean;
  stats: Map<string, RemoteStat>;
} {
  const sep = out.indexOf(0);
  if (sep < 0) return { manifest: new Map(), manifestLines: 0, manifestExists: false, stats: new Map() };
  const text = out.subarray(0, sep).toString('utf8');
  const parsed = parseRemoteManifest(text);
  return { manifest: parsed.entries, manifestLines: parsed.lines, manifestExists: text.length > 0, stats: parseStats(out, sep + 1) };
}

/** Upload what changed in `localDir` to `remoteDir` in the pod. */
export async function syncUp(pod: PodCommands, localDir: string, remoteDir: string, options: SyncUpOptions = {}): Promise<SyncResult> {
  const t0 = Date.now();
  const { signal } = options;
  const what = 'Syncing to the pod';
  if (!remoteDir.startsWith('/')) throw new SyncError(`The pod folder must be an absolute path (got "${remoteDir}").`);
  const emit = (p: SyncProgress): void => options.onProgress?.(p);

  emit({ phase: 'scanning', files: 0, bytes: 0, totalFiles: 0, totalBytes: 0 });
  const { files, skippedLinks } = await scanTree(localDir, { exclude: options.exclude, gitignore: options.gitignore, signal });
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const present = new Set(files.map((f) => f.rel));

  // Hash (from the cache where size and mtime are unchanged).
  const cache = await LocalHashCache.load(options.stateDir, localDir);
  const hashes = new Map<string, string>();
  let hashedFiles = 0;
  let hashedBytes = 0;
  await eachLimited(files, 4, async (f) => {
    aborted(signal, what);
    let h = f.link !== undefined ? linkHash(f.link) : cache.get(f.rel, f.size, f.mtimeMs);
    if (!h) {
      h = await sha256File(f.abs, signal);
      cache.set(f.rel, f.size, f.mtimeMs, h);
      hashedBytes += f.size;
    }
    hashes.set(f.rel, h);
    hashedFiles++;
    emit({ phase: 'hashing', files: hashedFiles, bytes: hashedBytes, totalFiles: files.length, totalBytes });
  });
  cache.retain(present);

  const locallyGone = async (m: RemoteManifest): Promise<string[]> => {
    const out: string[] = [];
    if (!options.deleteRemoved) return out;
    for (const p of m.keys()) {
      if (present.has(p) || !safeRelPath(p)) continue;
      if (
        await fsp.lstat(path.join(localDir, ...p.split('/'))).then(
          () => false,
          () => true,
        )
      )
        out.push(p);
    }
    return out;
  };
  const total = { uploadedFiles: 0, uploadedBytes: 0, deletedFiles: 0, wireBytes: 0, roundTrips: 0 };
  const uploadedNow = new Set<string>();
  /** Paths (relative) this sync changed in the pod, and how. */
  const changed = new Map<string, ChangeType>();
  const noteChanges = (uploads: readonly LocalFile[], existed: (rel: string) => boolean, deletes: readonly string[]): void => {
    for (const f of uploads) changed.set(f.rel, existed(f.rel) ? 'changed' : 'created');
    for (const p of deletes) changed.set(p, 'deleted');
  };
  const progressFor = (uploads: readonly LocalFile[]) => {
    const bytes = uploads.reduce((n, f) => n + f.size, 0);
    return (files: number, sent: number): void =>
      emit({ phase: 'uploading', files, bytes: total.uploadedBytes + sent, totalFiles: uploads.length, totalBytes: bytes });
  };
  const target = `${options.target ?? ''}\0${remoteDir}`;
  const finish = async (manifest: RemoteManifest, ranAfter?: SyncResult['ranAfter']): Promise<SyncResult> => {
    for (const [p, e] of manifest) if (e.sha256 === 'changed-during-upload') cache.set(p, -1, -1, '');
    cache.setSnapshot(target, manifest);
    await cache.save();
    return {
      ...total,
      skippedFiles: files.length - uploadedNow.size,
      durationMs: Date.now() - t0,
      skippedLinks,
      changes: pathChanges(remoteDir, changed),
      ...(ranAfter ? { ranAfter } : {}),
    };
  };

  // Fast path: we know what we left in this pod folder last time, so send what changed since then
  // and, in the same exec, stat everything else to check the pod still has it.
  const snap = cache.snapshot(target);
  if (snap) {
    const uploads = files.filter((f) => {
      const e = snap.get(f.rel);
      return !e || e.sha256 !== hashes.get(f.rel) || e.size !== f.size;
    });
    const deletes = await locallyGone(snap);
    // With runAfter even an unchanged tree takes this path: the check and the command in one exec.
    if (uploads.length > 0 || deletes.length > 0 || options.runAfter !== undefined) {
      aborted(signal, what);
      const verify = files.filter((f) => !uploads.includes(f)).map((f) => f.rel);
      // What `stat` must print for the files not sent, if the pod still has them as we left them.
      const expect =
        options.runAfter === undefined
          ? undefined
          : verify.every((p) => snap.has(p))
            ? verify.map((p) => ({ size: snap.get(p)!.size, mtime: snap.get(p)!.mtime }))
            : undefined;
      const runAfter =
        options.runAfter !== undefined && expect ? { line: options.runAfter, expect, stdin: options.runAfterStdin } : undefined;
      const round = await uploadRound(pod, remoteDir, uploads, deletes, { kind: 'append' }, verify, progressFor(uploads), signal, runAfter);
      total.roundTrips++;
      total.uploadedFiles += uploads.length;
      total.uploadedBytes += round.result.sentBytes;
      total.deletedFiles += deletes.length;
      total.wireBytes += round.result.wireBytes;
      for (const f of uploads) uploadedNow.add(f.rel);
      noteChanges(uploads, (rel) => snap.has(rel), deletes);
      const v = round.verified;
      const stillGood =
        v !== undefined &&
        v.hadManifest &&
        verify.every((p) => {
          const e = snap.get(p);
          const st = v.stats.get(p);
          return e !== undefined && st !== undefined && st.size === e.size && st.mtime === e.mtime;
        });
      // (The pod ran runAfter only on the same check, made there.)
      if (stillGood || round.ranAfter) {
        const next: RemoteManifest = new Map(snap);
        for (const [p, e] of round.result.newEntries) next.set(p, e);
        for (const p of deletes) next.delete(p);
        return finish(next, round.ranAfter);
      }
      // The pod's copy is not what we left (a new pod, edits there): check everything below.
    }
  }

  // Probe the pod: its manifest and the current size/mtime of our files there.
  aborted(signal, what);
  const list = gzipSync(Buffer.concat(files.map((f) => Buffer.from(f.rel + '\0', 'utf8'))), { level: 6 });
  total.wireBytes += list.length;
  const probe = await pod.exec(quoteArgv(['sh', '-c', PROBE_SCRIPT, 'kgpu-sync-probe', remoteDir]), { stdin: list, signal });
  total.roundTrips++;
  if (probe.exitCode !== 0)
    throw new SyncError(
      `Reading the pod's copy of ${remoteDir} failed: ${probe.stderr.toString('utf8').trim() || `exit ${probe.exitCode ?? probe.signal}`}`,
    );
  const remote = parseProbe(probe.stdout);

  const uploads: LocalFile[] = [];
  for (const f of files) {
    const m = remote.manifest.get(f.rel);
    const st = remote.stats.get(f.rel);
    const same =
      m !== undefined &&
      st !== undefined &&
      m.sha256 === hashes.get(f.rel) &&
      st.size === m.size &&
      st.mtime === m.mtime &&
      m.size === f.size;
    if (!same) uploads.push(f);
  }
  const deletes = await locallyGone(remote.manifest);
  if (uploads.length === 0 && deletes.length === 0) return finish(remote.manifest);

  aborted(signal, what);
  const rewrite = !remote.manifestExists || remote.manifestLines > 2 * remote.manifest.size + 64;
  const runAfter = options.runAfter !== undefined ? { line: options.runAfter, stdin: options.runAfterStdin } : undefined;
  const round = await uploadRound(
    pod,
    remoteDir,
    uploads,
    deletes,
    rewrite ? { kind: 'rewrite', base: remote.manifest } : { kind: 'append' },
    undefined,
    progressFor(uploads),
    signal,
    runAfter,
  );
  total.roundTrips++;
  total.uploadedFiles += uploads.filter((f) => !uploadedNow.has(f.rel)).length;
  total.uploadedBytes += round.result.sentBytes;
  total.deletedFiles += deletes.length;
  total.wireBytes += round.result.wireBytes;
  for (const f of uploads) uploadedNow.add(f.rel);
  noteChanges(uploads, (rel) => remote.stats.has(rel), deletes);
  const next: RemoteManifest = new Map(remote.manifest);
  for (const [p, e] of round.result.newEntries) next.set(p, e);
  for (const p of deletes) next.delete(p);
  return finish(next, round.ranAfter);
}

/** A sync's changes as absolute pod paths: the folder first (its listing changed when anything
 *  was created), then each folder a created file is in, then the files. */
function pathChanges(remoteDir: string, changed: ReadonlyMap<string, ChangeType>): PathChange[] {
  if (changed.size === 0) return [];
  const dirs = new Set<string>();
  for (const [rel, type] of changed) {
    if (type !== 'created') continue;
    for (let d = path.posix.dirname(rel); d !== '.' && !dirs.has(d); d = path.posix.dirname(d)) dirs.add(d);
  }
  return [
    { type: 'changed', path: remoteDir },
    ...[...dirs].map((d): PathChange => ({ type: 'changed', path: path.posix.join(remoteDir, d) })),
    ...[...changed].map(([rel, type]) => ({ type, path: path.posix.join(remoteDir, rel) })),
  ];
}

function safeRelPath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\0')) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

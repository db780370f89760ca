/**
 * Incremental upload of a local folder to a pod, and pull of pod files/folders, each over as few
 * exec channels as possible (the bastion is single-channel per connection):
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
 *   equals, byte for byte, what we expect (`cmp` in the pod) — so a run costs one exec, not two.
 * pull — `tar -c` of the file or folder streamed back and unpacked here, each file written to a
 *   temp name and renamed into place, so a cancelled pull leaves no partial file under a final name.
 *
 * Names travel inside the tar stream or as quoted arguments / NUL-separated lists, never as shell.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { drained, type PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import { tempSiblingName } from '../util/temp-name';
import { SshAbortedError } from '../ssh/ssh-errors';
import { eachLimited } from '../util/async';
import type { ChangeType, PathChange } from '../util/change-coalescer';
import { sha256File } from '../util/hash';
import { scanTree, type LocalFile } from './ignore-rules';
import type { SkippedLink } from './local-links';
import { LocalPathGuard, type RefusedEntry } from './local-path-guard';
import {
  LocalHashCache,
  manifestLine,
  parseRemoteManifest,
  serializeRemoteManifest,
  type RemoteEntry,
  type RemoteManifest,
} from './sync-manifest';
import { padding, readTar, TAR_END, tarHeader, type TarEntry, type TarEntrySink } from './tar-stream';

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

export class SyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

const PROBE_SCRIPT = String.raw`if ! cd -- "$1" 2>/dev/null; then cat > /dev/null; exit 0; fi
cat .kgpu/manifest.jsonl 2>/dev/null
printf '\0'
gzip -dc | xargs -0 -r stat --printf '%s %Y %n\0' -- 2>/dev/null
exit 0
`;

const UPLOAD_SCRIPT = String.raw`R=$1; K=$1/.kgpu; S=$1/.kgpu/sync.$$
if [ -f "$K/manifest.jsonl" ]; then had=1; else had=0; fi
mkdir -p -- "$K" || exit 10
find "$K" -maxdepth 1 -name 'sync.*' -mmin +120 -exec rm -rf {} + 2>/dev/null
rm -rf -- "$S"; mkdir -- "$S" || exit 10
if [ "$2" = gz ]; then z=-z; else z=; fi
if ! tar -x $z --no-same-owner -f - -C "$S"; then rm -rf -- "$S"; echo 'the upload stream was cut short or could not be unpacked' >&2; exit 10; fi
if [ -d "$S/f" ]; then
  cd -- "$S/f" || exit 11
  find . -mindepth 1 -type d -exec sh -c 'cd -- "$0" && mkdir -p -- "$@"' "$R" {} + &&
  find . \( -type f -o -type l \) -exec sh -c 'for f; do mv -fT -- "$f" "$0/$f" || exit 1; done' "$R" {} + ||
  { rm -rf -- "$S"; echo 'could not move the uploaded files into place' >&2; exit 11; }
fi
cd -- "$R" || exit 11
if [ -f "$S/d" ]; then xargs -0 -r rm -f -- < "$S/d"; fi
if [ -f "$S/M" ]; then mv -f -- "$S/M" "$K/manifest.jsonl"; elif [ -f "$S/m" ]; then cat -- "$S/m" >> "$K/manifest.jsonl"; fi
if [ -f "$S/v" ]; then printf '%s\0' "$had"; xargs -0 -r stat --printf '%s %Y %n\0' -- < "$S/v" > "$S/vs" 2>/dev/null; cat -- "$S/vs"; fi
# $3: a command line to run now that the copy is complete: with an expected stat list (e), only
# when the pod had our manifest and the files not sent are exactly as we left them.
if [ -n "$3" ] && { [ ! -f "$S/e" ] || { [ "$had" = 1 ] && cmp -s -- "$S/vs" "$S/e"; }; }; then
  # Its stdin (a 0600 file in the stream) stays open while the file itself is removed now.
  if [ -f "$S/i" ]; then exec 3< "$S/i"; else exec 3< /dev/null; fi
  rm -rf -- "$S"
  sh -c "$3" <&3 >&2; rc=$?; exec 3<&-
  printf '\nKGPU-RAN-AFTER %s\n' "$rc" >&2
  exit 0
fi
rm -rf -- "$S"
exit 0
`;

const PULL_SCRIPT = String.raw`cd -- "$1" 2>/dev/null && [ -e "$2" ] || { printf 'No such file or directory in the pod: %s\n' "$1/$2" >&2; exit 3; }
printf 'KGPU-SIZE %s\n' "$(du -sb -- "$2" 2>/dev/null | cut -f1 | head -n 1)" >&2
exec tar -c --format=pax --no-unquote -f - -- "$2"
`;

/** Uploads up to this many file bytes are gzipped on the wire. */
const GZIP_MAX_BYTES = 32 * 1024 * 1024;

function aborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new SshAbortedError(what);
}

function mtimeSec(f: LocalFile): number {
  return Math.floor(f.mtimeMs / 1000);
}

/** What the manifest records as a link's hash: its text's, marked (never equal to a file's). */
function linkHash(target: string): string {
  return 'symlink:' + createHash('sha256').update(target, 'utf8').digest('hex');
}

interface RemoteStat {
  size: number;
  mtime: number;
}

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

/** `stat --printf '%s %Y %n\0'` records from `from` on. */
function parseStats(out: Buffer, from: number): Map<string, RemoteStat> {
  const stats = new Map<string, RemoteStat>();
  let i = from;
  while (i < out.length) {
    const z = out.indexOf(0, i);
    const rec = out.subarray(i, z < 0 ? out.length : z).toString('utf8');
    i = z < 0 ? out.length : z + 1;
    const a = rec.indexOf(' ');
    const b = rec.indexOf(' ', a + 1);
    if (a < 0 || b < 0) continue;
    stats.set(rec.slice(b + 1), { size: Number(rec.slice(0, a)), mtime: Number(rec.slice(a + 1, b)) });
  }
  return stats;
}

/** Upload what changed in `localDir` to `remoteDir` in the pod. */
interface UploadRound {
  result: { newEntries: Map<string, RemoteEntry>; sentBytes: number; wireBytes: number };
  /** With a verify list: whether the pod had a manifest before this round, and the stat of each listed path. */
  verified?: { hadManifest: boolean; stats: Map<string, RemoteStat> };
  /** runAfter ran (its exit code and stderr). */
  ranAfter?: { exitCode: number | null; stderr: string };
}

/** One exec: the changed files (+ manifest lines, deletions, an optional list to stat after). */
async function uploadRound(
  pod: PodCommands,
  remoteDir: string,
  uploads: readonly LocalFile[],
  deletes: readonly string[],
  manifest: { kind: 'append' } | { kind: 'rewrite'; base: RemoteManifest },
  verify: readonly string[] | undefined,
  progress: (files: number, bytes: number) => void,
  signal: AbortSignal | undefined,
  runAfter?: { line: string; expect?: Buffer; stdin?: Buffer },
): Promise<UploadRound> {
  const newEntries = new Map<string, RemoteEntry>();
  let sentBytes = 0;
  let wireBytes = 0;
  const uploadBytes = uploads.reduce((n, f) => n + f.size, 0);

  async function* tarBody(): AsyncGenerator<Buffer> {
    let sentFiles = 0;
    for (const f of uploads) {
      if (f.link !== undefined) {
        // A link inside the folder: recreated as a link (its target is synced on its own).
        yield tarHeader({ path: `f/${f.rel}`, size: 0, mode: 0o777, mtime: mtimeSec(f), type: 'symlink', linkname: f.link });
        newEntries.set(f.rel, { size: f.size, mtime: mtimeSec(f), sha256: linkHash(f.link) });
        sentFiles++;
        continue;
      }
      yield tarHeader({ path: `f/${f.rel}`, size: f.size, mode: f.mode, mtime: mtimeSec(f) });
      const h = createHash('sha256');
      let sent = 0;
      if (f.size > 0) {
        for await (const chunk of fs.createReadStream(f.abs, {
          start: 0,
          end: f.size - 1,
          highWaterMark: 256 * 1024,
        }) as AsyncIterable<Buffer>) {
          h.update(chunk);
          sent += chunk.length;
          sentBytes += chunk.length;
          yield chunk;
          progress(sentFiles, sentBytes);
        }
      }
      let sha = h.digest('hex');
      if (sent < f.size) {
        // The file shrank while we read it: keep the stream well-formed; the hash marks it stale
        // so the next sync sends it again.
        yield Buffer.alloc(f.size - sent);
        sha = 'changed-during-upload';
      }
      yield padding(f.size);
      newEntries.set(f.rel, { size: f.size, mtime: mtimeSec(f), sha256: sha });
      sentFiles++;
    }
    const now = Math.floor(Date.now() / 1000);
    const members: Array<[string, Buffer]> = [];
    if (manifest.kind === 'rewrite') {
      const merged: RemoteManifest = new Map(manifest.base);
      for (const [p, e] of newEntries) merged.set(p, e);
      for (const p of deletes) merged.delete(p);
      members.push(['M', Buffer.from(serializeRemoteManifest(merged), 'utf8')]);
    } else {
      const lines = [...newEntries].map(([p, e]) => manifestLine(p, e)).join('') + deletes.map((p) => manifestLine(p, null)).join('');
      members.push(['m', Buffer.from(lines, 'utf8')]);
    }
    if (deletes.length > 0) members.push(['d', Buffer.from(deletes.map((p) => p + '\0').join(''), 'utf8')]);
    if (verify) members.push(['v', Buffer.from(verify.map((p) => p + '\0').join(''), 'utf8')]);
    if (runAfter?.expect) members.push(['e', runAfter.expect]);
    if (runAfter?.stdin) members.push(['i', runAfter.stdin]);
    const chunks: Buffer[] = [];
    for (const [name, body] of members)
      chunks.push(tarHeader({ path: name, size: body.length, mode: name === 'i' ? 0o600 : 0o644, mtime: now }), body, padding(body.length));
    chunks.push(TAR_END);
    yield Buffer.concat(chunks);
  }

  // Small uploads (source edits) are gzipped: tar headers and text shrink to a fraction; big ones
  // (data, checkpoints) go as they are, where compression would cost more time than it saves.
  const gz = uploadBytes <= GZIP_MAX_BYTES;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      wireBytes += chunk.length;
      cb(null, chunk);
    },
  });
  const body = Readable.from(tarBody());
  const stdin = gz ? body.pipe(createGzip({ level: 1 })).pipe(counter) : body.pipe(counter);
  const up = await pod.exec(
    quoteArgv(['sh', '-c', UPLOAD_SCRIPT, 'kgpu-sync-upload', remoteDir, gz ? 'gz' : 'raw', runAfter?.line ?? '']),
    { stdin, signal },
  );
  const stderr = up.stderr.toString('utf8');
  const ran = /\nKGPU-RAN-AFTER (\d+)\n$/.exec(stderr);
  if (up.exitCode !== 0) {
    throw new SyncError(
      `Uploading to ${remoteDir} in the pod failed: ${up.stderr.toString('utf8').trim() || `exit ${up.exitCode ?? up.signal}`}. Nothing was half-written; run the sync again.`,
    );
  }
  const round: UploadRound = { result: { newEntries, sentBytes, wireBytes } };
  if (ran) round.ranAfter = { exitCode: Number(ran[1]), stderr: stderr.slice(0, ran.index) };
  if (verify) {
    const out = up.stdout;
    const z = out.indexOf(0);
    round.verified = { hadManifest: z > 0 && out.subarray(0, z).toString() === '1', stats: parseStats(out, z + 1) };
  }
  return round;
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
            ? Buffer.from(verify.map((p) => `${snap.get(p)!.size} ${snap.get(p)!.mtime} ${p}\0`).join(''), 'utf8')
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

export interface PullOptions {
  signal?: AbortSignal;
  /** Bytes and files written so far; totalBytes from `du` in the pod when known. */
  onProgress?(bytes: number, files: number, totalBytes?: number): void;
  /** The folder the user chose: nothing is written outside it (local-path-guard.ts). Default: the
   *  folder `localPath` is in. */
  within?: string;
  /** Whose file-name rules apply (default this machine's; tests pass 'win32'). */
  platform?: NodeJS.Platform;
}

export interface PullResult {
  files: number;
  bytes: number;
  /** Symlinks in the pod's tree are not recreated locally. */
  skippedSymlinks: number;
  /** Entries not written because their local path would not be a plain path inside the chosen
   *  folder (named by their path in the archive, e.g. "out/CON"); the rest was written. */
  refused: RefusedEntry[];
  durationMs: number;
}

/**
 * Copy a file or a folder from the pod to `localPath` (the file, or the folder to create/merge
 * into). Each file is written under a temp name and renamed into place when complete.
 */
export async function pull(pod: PodCommands, remotePath: string, localPath: string, options: PullOptions = {}): Promise<PullResult> {
  const t0 = Date.now();
  const { signal } = options;
  const norm = path.posix.normalize(remotePath).replace(/\/+$/, '');
  if (!norm.startsWith('/') || norm === '' || norm === '/')
    throw new SyncError(`Pull needs an absolute pod path below / (got "${remotePath}").`);
  const dir = path.posix.dirname(norm);
  const base = path.posix.basename(norm);
  const within = options.within ?? path.dirname(localPath);
  const guard = new LocalPathGuard(within, options.platform);
  // Where localPath is below the chosen folder (`/`-separated, to check with the entries' names).
  const prefix = path.relative(within, localPath).split(path.sep).join('/');
  if (prefix.startsWith('..') || path.isAbsolute(prefix)) throw new SyncError(`Pull target ${localPath} is not inside ${within}.`);

  const s = await pod.execStream(quoteArgv(['sh', '-c', PULL_SCRIPT, 'kgpu-pull', dir, base]), { signal });
  let stderr = '';
  let totalBytes: number | undefined;
  s.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 65536) stderr += b.toString('utf8');
    const m = /KGPU-SIZE (\d+)/.exec(stderr);
    if (m) totalBytes = Number(m[1]);
  });
  s.done.catch(() => undefined);

  let files = 0;
  let bytes = 0;
  let skippedSymlinks = 0;
  const refused: RefusedEntry[] = [];
  let openTemp: { fh: fsp.FileHandle; tmp: string } | undefined;

  const onEntry = async (e: TarEntry): Promise<TarEntrySink | undefined> => {
    aborted(signal, 'Pulling from the pod');
    let rel: string;
    if (e.path === base) rel = '';
    else if (e.path.startsWith(base + '/')) rel = e.path.slice(base.length + 1);
    else throw new SyncError(`Unexpected entry "${e.path}" in the pod's archive.`);
    if (e.type === 'symlink') {
      skippedSymlinks++;
      return undefined;
    }
    if (e.type !== 'file' && e.type !== 'dir') return undefined;
    // Every local target is checked: plain names here, and inside the chosen folder for real.
    const relWithin = [prefix, rel].filter((x) => x !== '').join('/');
    const why = await guard.check(relWithin, e.type);
    if (why) {
      refused.push({ path: e.path, reason: why });
      return undefined;
    }
    const target = rel === '' ? localPath : path.join(localPath, ...rel.split('/'));
    if (e.type === 'dir') {
      await fsp.mkdir(target, { recursive: true });
      return undefined;
    }
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(path.dirname(target), tempSiblingName(path.basename(target), `.kgpu-part-${randomBytes(4).toString('hex')}`));
    const fh = await fsp.open(tmp, 'w', 0o600);
    openTemp = { fh, tmp };
    return {
      write: async (chunk) => {
        await fh.write(chunk);
        bytes += chunk.length;
        options.onProgress?.(bytes, files, totalBytes);
      },
      end: async () => {
        await fh.close();
        openTemp = undefined;
        await fsp.chmod(tmp, e.mode & 0o777);
        await fsp.utimes(tmp, e.mtime, e.mtime);
        await fsp.rename(tmp, target);
        files++;
        options.onProgress?.(bytes, files, totalBytes);
      },
    };
  };

  try {
    await readTar(s.stdout as AsyncIterable<Buffer>, onEntry);
    const [st] = await Promise.all([s.done, drained(s.stderr)]);
    if (st.exitCode === 3)
      throw new SyncError(stderr.split('\n').find((l) => l.startsWith('No such')) ?? `No such file or directory in the pod: ${norm}`);
    if (st.exitCode !== 0)
      throw new SyncError(`Pulling ${norm} failed: ${stderr.replace(/KGPU-SIZE.*\n/, '').trim() || `exit ${st.exitCode ?? st.signal}`}`);
  } catch (e) {
    s.close();
    if (openTemp) {
      const t = openTemp;
      openTemp = undefined;
      await t.fh.close().catch(() => undefined);
      await fsp.unlink(t.tmp).catch(() => undefined);
    }
    if (signal?.aborted) throw new SshAbortedError('Pulling from the pod');
    if (e instanceof SyncError || e instanceof SshAbortedError) throw e;
    const st = await s.done.catch((err: unknown) => err);
    if (st instanceof Error) throw st;
    throw new SyncError(`Pulling ${norm} failed: ${(e as Error).message}`, { cause: e });
  }
  return { files, bytes, skippedSymlinks, refused, durationMs: Date.now() - t0 };
}

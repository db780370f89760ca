/**
 * One upload round of syncUp, in ONE exec: every changed file in one tar stream (gzipped when
 * small) into `tar -x` in a staging directory under `<remoteDir>/.kgpu/`, then each file renamed
 * over its target (atomic per file: no half file under a target name), opt-in deletions, the
 * manifest's lines, an optional list of paths to `stat` after, and an optional command to run
 * once the pod's copy is known complete (`runAfter`, its stdin a 0600 file in the stream).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { PodCommands } from '../ssh/pod-commands';
import { quoteArgv } from '../util/shell-quote';
import type { LocalFile } from './ignore-rules';
import { manifestLine, serializeRemoteManifest, type RemoteEntry, type RemoteManifest } from './sync-manifest';
import { SyncError } from './sync-error';
import { padding, TAR_END, tarHeader } from './tar-stream';

const UPLOAD_SCRIPT = String.raw`R=$1; K=$1/.kgpu; S=$1/.kgpu/sync.$$
if [ -f "$K/manifest.jsonl" ]; then had=1; else had=0; fi
# Each process spawned here is on a run's critical path (runAfter) and shares the pod's CPU with
# it: none that is not needed — mkdir only when missing, the sweep of old staging folders (left
# by cut-off syncs) only when there is one (a glob, no process), rm only when one is in the way.
[ -d "$K" ] || mkdir -p -- "$K" || exit 10
for o in "$K"/sync.*; do
  [ -e "$o" ] && find "$K" -maxdepth 1 -name 'sync.*' -mmin +120 -exec rm -rf {} + 2>/dev/null
  break
done
mkdir -- "$S" 2>/dev/null || { rm -rf -- "$S"; mkdir -- "$S"; } || exit 10
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

/** Uploads up to this many file bytes are gzipped on the wire. */
const GZIP_MAX_BYTES = 32 * 1024 * 1024;

export function mtimeSec(f: LocalFile): number {
  return Math.floor(f.mtimeMs / 1000);
}

/** What the manifest records as a link's hash: its text's, marked (never equal to a file's). */
export function linkHash(target: string): string {
  return 'symlink:' + createHash('sha256').update(target, 'utf8').digest('hex');
}

export interface RemoteStat {
  size: number;
  mtime: number;
}

/** `stat --printf '%s %Y %n\0'` records from `from` on. */
export function parseStats(out: Buffer, from: number): Map<string, RemoteStat> {
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

export interface UploadRound {
  result: { newEntries: Map<string, RemoteEntry>; sentBytes: number; wireBytes: number };
  /** With a verify list: whether the pod had a manifest before this round, and the stat of each listed path. */
  verified?: { hadManifest: boolean; stats: Map<string, RemoteStat> };
  /** runAfter ran (its exit code and stderr). */
  ranAfter?: { exitCode: number | null; stderr: string };
}

/** One exec: the changed files (+ manifest lines, deletions, an optional list to stat after). */
export async function uploadRound(
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

/**
 * One upload round of syncUp, in ONE exec: every changed file in one tar stream (gzipped when
 * small) into `tar -x` in a staging directory under `<remoteDir>/.kgpu/`, then each file renamed
 * over its target (atomic per file: no half file under a target name), opt-in deletions, the
 * manifest's lines, an optional list of paths to `stat` after, and an optional command to run
 * once the pod's copy is known complete (`runAfter`, its stdin a 0600 file in the stream).
 *
 * The round's own steps travel as the stream's last member, `s`: a few shell functions the script
 * sources (roundScript below) in which every name is a quoted word, never parsed as shell — so the
 * pod runs one process per step (one `mv` per file, one `stat`, …) and none to read lists.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { PodCommands } from '../ssh/pod-commands';
import { quote, quoteArgv } from '../util/shell-quote';
import type { LocalFile } from './ignore-rules';
import { manifestLine, serializeRemoteManifest, type RemoteEntry, type RemoteManifest } from './sync-manifest';
import { SyncError } from './sync-error';
import { padding, TAR_END, tarHeader } from './tar-stream';

const UPLOAD_SCRIPT = String.raw`R=$1; K=$1/.kgpu; S=$1/.kgpu/$4; a=$3; z=
if [ -f "$K/manifest.jsonl" ]; then had=1; else had=0; fi
# Each process spawned here is on a run's critical path (runAfter) and shares the pod's CPU with
# it: none that is not needed — mkdir only when missing, the sweep of old staging folders (left
# by cut-off syncs) only when there is one (a glob, no process), the staging folder made by tar
# (its name $4 is the client's, random), lists read by sourcing $S/s (no cat, xargs or cmp).
[ -d "$K" ] || mkdir -p -- "$K" || exit 10
for o in "$K"/sync.*; do
  [ -e "$o" ] && find "$K" -maxdepth 1 -name 'sync.*' -mmin +120 -exec rm -rf {} + 2>/dev/null
  break
done
[ "$2" = gz ] && z=-z
if ! tar -x $z --no-same-owner -f - -C "$K" || [ ! -f "$S/s" ]; then rm -rf -- "$S"; echo 'the upload stream was cut short or could not be unpacked' >&2; exit 10; fi
cd -- "$R" || { rm -rf -- "$S"; exit 11; }
# $S/s defines P (folders, then each file renamed into place), D (deletions), M (the manifest),
# and with a verify list v=1 and V FORMAT (stat of the listed paths), with an expectation e=1 x=….
P() { :; }; D() { :; }; M() { :; }; v=; e=; x=
. "$S/s"
P || { rm -rf -- "$S"; echo 'could not move the uploaded files into place' >&2; exit 11; }
D
M
# $3: a command line to run now that the copy is complete: with an expectation (x, the listed
# files' "size mtime" lines), only when the pod had our manifest and they are exactly as we left them.
ok=
if [ -n "$a" ]; then
  if [ -z "$e" ]; then ok=1
  elif [ "$had" = 1 ] && y=$(V '%s %Y\n' 2>/dev/null) && [ "$y" = "$x" ]; then ok=1; fi
fi
# The verify answer: whether the pod had a manifest, then (unless the command runs) the stats.
if [ -n "$v" ]; then printf '%s\0' "$had"; [ -n "$ok" ] || V '%s %Y %n\0' 2>/dev/null; fi
if [ -n "$ok" ]; then
  # Its stdin: a 0600 file in the stream (the job's environment), removed with the staging folder.
  if [ -f "$S/i" ]; then exec 3< "$S/i"; else exec 3< /dev/null; fi
  sh -c "$a" <&3 >&2; rc=$?; exec 3<&-
  rm -rf -- "$S"
  printf '\nKGPU-RAN-AFTER %s\n' "$rc" >&2
  exit 0
fi
rm -rf -- "$S"
exit 0
`;

/** Quoted words per command line sourced from $S/s, at most (well under the kernel's ARG_MAX). */
const WORDS_MAX_BYTES = 64 * 1024;

/** `cmd w1 w2 …` over as many command lines as the words need, joined with `&&`. */
function chunked(cmd: string, words: readonly string[]): string {
  const lines: string[] = [];
  let line: string[] = [];
  let bytes = 0;
  for (const w of words) {
    const q = quote(w);
    if (line.length > 0 && bytes + q.length > WORDS_MAX_BYTES) {
      lines.push(`${cmd} ${line.join(' ')}`);
      line = [];
      bytes = 0;
    }
    line.push(q);
    bytes += q.length + 1;
  }
  if (line.length > 0) lines.push(`${cmd} ${line.join(' ')}`);
  return lines.join(' &&\n  ') || ':';
}

/** The folders the uploads go into (not the root), each once. */
function parentDirs(uploads: readonly LocalFile[]): string[] {
  const dirs = new Set<string>();
  for (const f of uploads) {
    const i = f.rel.lastIndexOf('/');
    if (i > 0) dirs.add(f.rel.slice(0, i));
  }
  return [...dirs];
}

/** The round's steps, as UPLOAD_SCRIPT sources them from $S/s (see there). */
export function roundScript(round: {
  uploads: readonly LocalFile[];
  deletes: readonly string[];
  /** The manifest's new lines (append), or undefined when the member M replaces it. */
  manifestLines: string | undefined;
  verify: readonly string[] | undefined;
  /** The verify list's expected stats, in its order (runAfter's condition). */
  expect: readonly RemoteStat[] | undefined;
}): string {
  const out: string[] = [];
  if (round.uploads.length > 0) {
    const dirs = parentDirs(round.uploads);
    const steps: string[] = [];
    if (dirs.length > 0) steps.push(`{ ${dirs.map((d) => `[ -d ${quote(d)} ]`).join(' && ')} || ${chunked('mkdir -p --', dirs)}; }`);
    for (const f of round.uploads) steps.push(`mv -fT -- "$S"/f/${quote(f.rel)} ${quote(f.rel)}`);
    out.push(`P() {\n  ${steps.join(' &&\n  ')}\n}`);
  }
  if (round.deletes.length > 0) out.push(`D() {\n  ${chunked('rm -f --', round.deletes)}\n}`);
  out.push(
    round.manifestLines === undefined
      ? `M() { mv -f -- "$S/M" "$K/manifest.jsonl"; }`
      : round.manifestLines === ''
        ? ''
        : `M() { printf '%s' ${quote(round.manifestLines)} >> "$K/manifest.jsonl"; }`,
  );
  if (round.verify) {
    out.push(`v=1\nV() {\n  ${round.verify.length > 0 ? chunked('stat --printf "$1" --', round.verify) : ':'}\n}`);
    if (round.expect) out.push(`e=1 x=${quote(round.expect.map((e) => `${e.size} ${e.mtime}`).join('\n'))}`);
  }
  return out.filter(Boolean).join('\n') + '\n';
}

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
  runAfter?: { line: string; expect?: readonly RemoteStat[]; stdin?: Buffer },
): Promise<UploadRound> {
  const newEntries = new Map<string, RemoteEntry>();
  let sentBytes = 0;
  let wireBytes = 0;
  const uploadBytes = uploads.reduce((n, f) => n + f.size, 0);
  // The staging folder's name: random, so tar makes it (no mkdir) and no two rounds share one.
  const stage = `sync.${randomBytes(8).toString('hex')}`;

  async function* tarBody(): AsyncGenerator<Buffer> {
    let sentFiles = 0;
    for (const f of uploads) {
      if (f.link !== undefined) {
        // A link inside the folder: recreated as a link (its target is synced on its own).
        yield tarHeader({ path: `${stage}/f/${f.rel}`, size: 0, mode: 0o777, mtime: mtimeSec(f), type: 'symlink', linkname: f.link });
        newEntries.set(f.rel, { size: f.size, mtime: mtimeSec(f), sha256: linkHash(f.link) });
        sentFiles++;
        continue;
      }
      yield tarHeader({ path: `${stage}/f/${f.rel}`, size: f.size, mode: f.mode, mtime: mtimeSec(f) });
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
    let manifestLines: string | undefined;
    if (manifest.kind === 'rewrite') {
      const merged: RemoteManifest = new Map(manifest.base);
      for (const [p, e] of newEntries) merged.set(p, e);
      for (const p of deletes) merged.delete(p);
      members.push(['M', Buffer.from(serializeRemoteManifest(merged), 'utf8')]);
    } else {
      manifestLines = [...newEntries].map(([p, e]) => manifestLine(p, e)).join('') + deletes.map((p) => manifestLine(p, null)).join('');
    }
    if (runAfter?.stdin) members.push(['i', runAfter.stdin]);
    // Last: the steps (they name the files just sent, and the manifest holds their hashes).
    const steps = roundScript({ uploads, deletes, manifestLines, verify, expect: runAfter?.line ? runAfter.expect : undefined });
    members.push(['s', Buffer.from(steps, 'utf8')]);
    const chunks: Buffer[] = [];
    for (const [name, body] of members)
      chunks.push(
        tarHeader({ path: `${stage}/${name}`, size: body.length, mode: name === 'i' ? 0o600 : 0o644, mtime: now }),
        body,
        padding(body.length),
      );
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
    quoteArgv(['sh', '-c', UPLOAD_SCRIPT, 'kgpu-sync-upload', remoteDir, gz ? 'gz' : 'raw', runAfter?.line ?? '', stage]),
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

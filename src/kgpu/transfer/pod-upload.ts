/**
 * Upload local files and folders into a folder of a pod. Each file lands atomically (a temp name
 * beside the target, renamed over it only when complete), so a cancelled or failed upload never
 * leaves a partial file under the target's name:
 * - up to the transit threshold: streamed over an exec channel (bulk-transfer.ts, resumable);
 * - above it, the contract's way for big files: mint a transit object, PUT the file to its
 *   presigned URL, `curl` it inside the pod from a fresh GET URL, delete the object. The URL goes
 *   to the pod on stdin, never on a command line or in a message (it is a credential).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { KgpuClient } from '../api/api-client';
import type { PodConnector } from '../ssh/ssh-connection';
import type { RemoteFs } from '../fs/remote-fs';
import { exec } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { tempSiblingName } from '../util/temp-name';
import { SshAbortedError, SshError } from '../ssh/ssh-errors';
import { ProgressTally, eachLimited, type TransferTotals } from './transfer-progress';
import type { PathChange } from '../util/change-coalescer';
import { classifyLink, type SkippedLink } from './local-links';

const posix = path.posix;

export interface UploadFile {
  localPath: string;
  remotePath: string;
  size: number;
}

export interface UploadPlan {
  files: UploadFile[];
  /** Pod folders to create, parents first. */
  dirs: string[];
  bytes: number;
  /** Symbolic links inside a chosen folder, recreated as links in the pod (`target` relative). */
  links: { remotePath: string; target: string }[];
  /** Links not uploaded (out of the chosen folder, loops, dangling); `rel` starts with the chosen folder's name. */
  skipped: SkippedLink[];
}

export interface PodUploadOptions {
  connector: PodConnector;
  rfs: RemoteFs;
  /** Files larger than `thresholdBytes` go through a transit object (needs the REST client). */
  transit?: { client: KgpuClient; thresholdBytes: number };
  signal?: AbortSignal;
  onProgress?: (t: TransferTotals) => void;
  /** Files copied at once (default 3). */
  concurrency?: number;
}

export interface UploadResult {
  files: number;
  bytes: number;
  /** Files that went through a transit object. */
  viaTransit: number;
  /** What changed in the pod (for the file system's listeners). */
  changes: PathChange[];
  /** Symbolic links recreated as links in the pod. */
  links: number;
  /** Symbolic links not uploaded: they lead out of the chosen folder, loop, or dangle. */
  skipped: SkippedLink[];
}

/**
 * Walk the local selection: files go to `remoteDir/<name>`, folders are copied with their tree.
 * What the user chose is taken as it is (a chosen link is followed once); below a chosen folder no
 * link is followed out of it (local-links.ts): links inside are recreated, the rest listed.
 */
export async function planUpload(localPaths: readonly string[], remoteDir: string): Promise<UploadPlan> {
  const plan: UploadPlan = { files: [], dirs: [], bytes: 0, links: [], skipped: [] };
  const walk = async (local: string, remote: string, root: { real: string; name: string; abs: string } | undefined): Promise<void> => {
    const lst = await fsp.lstat(local);
    if (lst.isSymbolicLink() && root) {
      const rel = path.relative(root.abs, local).split(path.sep).join('/');
      const v = await classifyLink(root.real, local, rel);
      if (v.kind === 'skip') plan.skipped.push({ rel: `${root.name}/${rel}`, reason: v.reason });
      else plan.links.push({ remotePath: remote, target: v.target });
      return;
    }
    const st = lst.isSymbolicLink() ? await fsp.stat(local) : lst;
    if (st.isDirectory()) {
      plan.dirs.push(remote);
      const here = root ?? { real: await fsp.realpath(local), name: path.basename(local), abs: local };
      const names = (await fsp.readdir(local)).sort();
      for (const n of names) await walk(path.join(local, n), posix.join(remote, n), here);
    } else if (st.isFile()) {
      plan.files.push({ localPath: local, remotePath: remote, size: st.size });
      plan.bytes += st.size;
    }
  };
  for (const l of localPaths) await walk(l, posix.join(remoteDir, path.basename(l)), undefined);
  return plan;
}

/** Recreate symbolic links in the pod, all in one exec (NUL-separated target/link pairs on stdin). */
async function createLinks(connector: PodConnector, links: UploadPlan['links'], signal?: AbortSignal): Promise<void> {
  if (links.length === 0) return;
  const stdin = Buffer.from(links.map((l) => `${l.target}\0${l.remotePath}\0`).join(''), 'utf8');
  const r = await exec(connector, `xargs -0 -r -n 2 sh -c 'ln -sfT -- "$0" "$1"'`, { stdin, signal });
  if (r.exitCode !== 0)
    throw new SshError(
      `Could not create the folder's symbolic links in the pod: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode ?? r.signal}`}.`,
    );
}

export async function uploadToPod(localPaths: readonly string[], remoteDir: string, options: PodUploadOptions): Promise<UploadResult> {
  const plan = await planUpload(localPaths, remoteDir);
  const tally = new ProgressTally(plan.bytes, plan.files.length, options.onProgress);
  const aborted = (): void => {
    if (options.signal?.aborted) throw new SshAbortedError('The upload');
  };
  const existed = new Set<string>();
  await Promise.all(
    [...localPaths].map(async (l) => {
      const r = posix.join(remoteDir, path.basename(l));
      if (await options.rfs.tryStat(r)) existed.add(r);
    }),
  );
  for (const d of plan.dirs) {
    aborted();
    await options.rfs.mkdirp(d);
  }
  let viaTransit = 0;
  await eachLimited(plan.files, options.concurrency ?? 3, async (f) => {
    aborted();
    const onBytes = (n: number): void => tally.file(f.remotePath, n);
    if (options.transit && f.size > options.transit.thresholdBytes) {
      await transitUpload(options.transit.client, options.connector, f.localPath, f.remotePath, f.size, {
        signal: options.signal,
        onProgress: onBytes,
      });
      viaTransit++;
    } else {
      await options.rfs.upload(f.localPath, f.remotePath, { signal: options.signal, onProgress: (p) => onBytes(p.bytes) });
    }
    tally.finished(f.remotePath, f.size);
  });
  aborted();
  await createLinks(options.connector, plan.links, options.signal);
  const changes: PathChange[] = [...localPaths].map((l) => {
    const r = posix.join(remoteDir, path.basename(l));
    return { type: existed.has(r) ? 'changed' : 'created', path: r };
  });
  return { files: plan.files.length, bytes: plan.bytes, viaTransit, changes, links: plan.links.length, skipped: plan.skipped };
}

export function transitFetchScript(tmp: string, target: string, size: number): string {
  return [
    `t=${quote(tmp)}; d=${quote(target)}`,
    'IFS= read -r u || exit 90',
    'curl -fsS -L --retry 2 -o "$t" "$u" || { r=$?; rm -f -- "$t"; exit $r; }',
    `[ "$(stat -c %s -- "$t")" = ${size} ] || { rm -f -- "$t"; echo "the downloaded copy has the wrong size" >&2; exit 91; }`,
    'if [ -e "$d" ]; then chmod --reference="$d" -- "$t" 2>/dev/null; fi',
    'mv -f -- "$t" "$d"',
  ].join('\n');
}

/** Client → transit object → pod for one file; the object is deleted afterwards in every case. */
export async function transitUpload(
  client: KgpuClient,
  connector: PodConnector,
  localPath: string,
  remotePath: string,
  size: number,
  options: { signal?: AbortSignal; onProgress?: (bytes: number) => void; label?: string } = {},
): Promise<void> {
  const obj = await client.createObject(options.label ?? `kgpu-upload ${path.basename(localPath)}`.slice(0, 120), {
    signal: options.signal,
    sizeBytes: size,
  });
  const tmp = posix.join(
    posix.dirname(remotePath),
    tempSiblingName(posix.basename(remotePath), `.kgpu-transit-${randomBytes(6).toString('hex')}`),
  );
  try {
    await client.uploadToPutUrl(obj.put_url, { filePath: localPath }, size, {
      signal: options.signal,
      onProgress: (sent) => options.onProgress?.(Math.min(sent, size)),
    });
    const fetched = await client.getObject(obj.object_id, { signal: options.signal });
    if (!fetched.get_url)
      throw new SshError(`kgpu did not return a download link for transit object ${obj.object_id}; try the upload again.`);
    let r;
    try {
      r = await exec(connector, transitFetchScript(tmp, remotePath, size), { stdin: `${fetched.get_url}\n`, signal: options.signal });
    } catch (e) {
      // Cancelled or dropped while curl ran: make sure no temp file stays behind.
      await exec(connector, `rm -f -- ${quote(tmp)}`).catch(() => undefined);
      throw e;
    }
    if (r.exitCode !== 0) {
      const why = r.stderr
        .toString('utf8')
        .trim()
        .replace(/https?:\/\/\S+/g, '<url>');
      throw new SshError(
        `The pod could not fetch ${path.basename(localPath)} from the transit object (${why || `exit ${r.exitCode ?? r.signal}`}). Check the pod can reach the internet, then retry.`,
      );
    }
  } finally {
    await client.deleteObject(obj.object_id).catch(() => undefined);
  }
}

/**
 * A sweep's large files (issue 23, the contract's "multi-pod fanout"): every file of the folder
 * the sync would send that is above the transit threshold (kgpu.transitObjectThresholdMB) is put
 * ONCE into a transit object (client → object store) and fetched from there by every pod of the
 * sweep over HTTPS (a fresh GET url per pod: each is valid for an hour), never through the bastion.
 * The sync of the sweep's runs then leaves those files out (`excludes()`). A pod that already holds
 * the same bytes (sha256) fetches nothing. The objects are deleted when the sweep ends (they would
 * expire after 24 h anyway).
 *
 * The sweep's plan keeps its large files and, once uploaded, their objects (`stored()`), so a sweep
 * found again after a window reload (`TransitFanOut.restore`) has the pods that never fetched them
 * fetch the same objects — nothing is uploaded again unless the objects were never made, or have
 * expired (24 h) or gone by then: then they are uploaded again, once, and the plan keeps the new ones.
 */
import path from 'node:path';
import type { KgpuClient } from '../api/api-client';
import { KgpuApiError } from '../api/api-error';
import { walkTree, type LocalFile } from '../transfer/ignore-rules';
import { gitignoreLiteral } from '../jobs/job-runner';
import type { PodCommands } from '../ssh/pod-commands';
import { transitFetchScript } from '../transfer/pod-upload';
import { quote } from '../util/shell-quote';
import { sha256File } from '../util/hash';

export type FanOutClient = Pick<KgpuClient, 'createObject' | 'uploadToPutUrl' | 'getObject' | 'deleteObject'>;

/** The files the sync would send (gitignore, kgpu.syncExclude) that are larger than the threshold. */
export async function largeFiles(folder: string, thresholdBytes: number, exclude: readonly string[] = []): Promise<LocalFile[]> {
  return (await walkTree(folder, { exclude })).filter((f) => !f.link && f.size > thresholdBytes);
}

/** The transit object has expired (410 object_expired) or is not there any more (404). */
function objectGone(e: unknown): boolean {
  return e instanceof KgpuApiError && (e.status === 410 || e.status === 404);
}

/** What a sweep's plan keeps of its fan-out: the files (relative to the synced folder) and,
 *  once uploaded, the transit object holding each and its sha256. */
export interface StoredTransit {
  files: { rel: string; size: number; objectId?: string; sha256?: string }[];
}

export interface FanOutResult {
  fetched: string[];
  /** Already in the pod with the same content. */
  present: string[];
}

export class TransitFanOut {
  private uploads: Promise<Map<string, { objectId: string; sha256: string }>> | undefined;

  constructor(
    private readonly client: FanOutClient,
    readonly files: readonly LocalFile[],
    /** Objects already made (a restored sweep): not uploaded again. */
    known?: ReadonlyMap<string, { objectId: string; sha256: string }>,
  ) {
    if (known && files.every((f) => known.has(f.rel))) this.uploads = Promise.resolve(new Map(known));
  }

  /** The fan-out of a stored plan (after a reload): its objects are used as they are. */
  static restore(client: FanOutClient, folder: string, stored: StoredTransit): TransitFanOut {
    const files = stored.files.map((f): LocalFile => ({
      rel: f.rel,
      abs: path.join(folder, ...f.rel.split('/')),
      size: f.size,
      mtimeMs: 0,
      mode: 0o644,
    }));
    const known = new Map<string, { objectId: string; sha256: string }>();
    for (const f of stored.files) if (f.objectId && f.sha256) known.set(f.rel, { objectId: f.objectId, sha256: f.sha256 });
    return new TransitFanOut(client, files, known);
  }

  /** What a plan keeps (objects once uploaded: `prepare()`). */
  async stored(): Promise<StoredTransit> {
    const objects = this.uploads ? await this.uploads.catch(() => undefined) : undefined;
    return { files: this.files.map((f) => ({ rel: f.rel, size: f.size, ...objects?.get(f.rel) })) };
  }

  /** Upload every file once (if not yet done). */
  async prepare(signal?: AbortSignal): Promise<void> {
    await this.upload(signal);
  }

  /** gitignore patterns that keep the sync from sending these files itself. */
  excludes(): string[] {
    return this.files.map((f) => '/' + f.rel.split('/').map(gitignoreLiteral).join('/'));
  }

  /** Upload every file once (the first caller does it; the others wait for it). */
  private upload(signal?: AbortSignal): Promise<Map<string, { objectId: string; sha256: string }>> {
    this.uploads ??= (async () => {
      const out = new Map<string, { objectId: string; sha256: string }>();
      for (const f of this.files) {
        const sha256 = await sha256File(f.abs, signal);
        const obj = await this.client.createObject(`kgpu-sweep ${path.basename(f.rel)}`.slice(0, 120), { signal, sizeBytes: f.size });
        out.set(f.rel, { objectId: obj.object_id, sha256 });
        await this.client.uploadToPutUrl(obj.put_url, { filePath: f.abs }, f.size, { signal });
      }
      return out;
    })();
    const p = this.uploads;
    p.catch(() => {
      if (this.uploads === p) this.uploads = undefined; // a later pod tries again
    });
    return p;
  }

  /** Put every large file into the pod's copy of the folder (`remoteDir`). */
  async fetchInto(pod: PodCommands, remoteDir: string, signal?: AbortSignal): Promise<FanOutResult> {
    let uploads = this.upload(signal);
    let objects = await uploads;
    const result: FanOutResult = { fetched: [], present: [] };
    for (const f of this.files) {
      let o = objects.get(f.rel)!;
      const target = path.posix.join(remoteDir, f.rel);
      const have = await pod.exec(`f=${quote(target)}; [ -f "$f" ] && [ ! -L "$f" ] && sha256sum < "$f" | cut -c1-64`, { signal });
      if (have.exitCode === 0 && have.stdout.toString().trim() === o.sha256) {
        result.present.push(f.rel);
        continue;
      }
      let url: string | undefined;
      try {
        url = (await this.client.getObject(o.objectId, { signal })).get_url;
      } catch (e) {
        // Objects live 24 h: a sweep resumed a day later finds them expired (410) or gone (404).
        // Upload the files again (once, whichever pod finds it first) and fetch the new object.
        if (!objectGone(e)) throw e;
        if (this.uploads === uploads) this.uploads = undefined;
        uploads = this.upload(signal);
        objects = await uploads;
        o = objects.get(f.rel)!;
        url = (await this.client.getObject(o.objectId, { signal })).get_url;
      }
      if (!url) throw new Error(`kgpu did not return a download link for transit object ${o.objectId}.`);
      const tmp = path.posix.join(path.posix.dirname(target), `.${path.posix.basename(target)}.kgpu-fanout`);
      const r = await pod.exec(`mkdir -p -- ${quote(path.posix.dirname(target))} && {\n${transitFetchScript(tmp, target, f.size)}\n}`, {
        stdin: `${url}\n`,
        signal,
      });
      if (r.exitCode !== 0) {
        const why = r.stderr
          .toString('utf8')
          .trim()
          .replace(/https?:\/\/\S+/g, '<url>');
        throw new Error(
          `The pod could not fetch ${f.rel} from its transit object (${why || `exit ${r.exitCode ?? r.signal}`}). Check the pod can reach the internet.`,
        );
      }
      result.fetched.push(f.rel);
    }
    return result;
  }

  /** Delete the objects (the sweep has ended). */
  async dispose(): Promise<void> {
    const p = this.uploads;
    this.uploads = undefined;
    const objects = await p?.catch(() => undefined);
    for (const o of objects?.values() ?? []) await this.client.deleteObject(o.objectId).catch(() => undefined);
  }
}

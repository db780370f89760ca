/**
 * Transit objects (`/v1/objects`): metadata per account, bytes on disk under the state dir, and the
 * presigned PUT/GET URLs the simulator serves itself at `/_objects/<id>` the way S3/R2 does:
 *   ?X-Amz-Algorithm=…&X-Amz-Date=…&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=<hex>
 * The signature is an HMAC over method, path, date, expiry, signed header names and their values;
 * a tampered URL, an expired one, or an unsigned `x-amz-*` header is refused with S3's XML errors,
 * and so is a PUT with any header beyond what an HTTP client sends by itself (the contract: "don't
 * add custom headers to the presigned URL (breaks the signature)").
 * Objects expire 24 h after creation; quotas are measured on the bytes actually stored. The URLs'
 * signing and checking: object-urls.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ApiError, invalid } from './api-error';
import type { ClockTimer, SimClockImpl } from './clock';
import { finishReading, sendS3Error } from './http-io';
import { newObjectId } from './ids';
import { PresignedUrls, URL_TTL_S } from './object-urls';
import type { Account } from './state';

export const OBJECT_TTL_MS = 24 * 3600_000;
export { URL_TTL_S } from './object-urls';

export interface ObjectLimits {
  /** Live bytes per account (default 100 GB). */
  perUserBytes: number;
  /** Bytes per object (default 50 GB). */
  perObjectBytes: number;
}

export const DEFAULT_OBJECT_LIMITS: ObjectLimits = { perUserBytes: 100e9, perObjectBytes: 50e9 };

export interface ObjectRecord {
  object_id: string;
  owner: string;
  label: string | null;
  created_at: number;
  expires_at: number;
  size_bytes: number | null;
  uploaded_at: number | null;
  etag: string | null;
  state: 'live' | 'expired' | 'deleted';
  expiry: ClockTimer | undefined;
  uploading: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class ObjectStore {
  readonly objects = new Map<string, ObjectRecord>();
  private readonly urls = new PresignedUrls({ origin: () => this.o.origin(), now: () => this.o.clock.now() });

  constructor(private readonly o: { dir: string; clock: SimClockImpl; limits: ObjectLimits; origin: () => string }) {
    mkdirSync(o.dir, { recursive: true });
  }

  get limits(): ObjectLimits {
    return this.o.limits;
  }

  /** Bytes an account stores in live objects (plus uploads in flight). */
  liveBytes(owner: string): number {
    let n = 0;
    for (const r of this.objects.values()) if (r.owner === owner && r.state === 'live') n += (r.size_bytes ?? 0) + r.uploading;
    return n;
  }

  create(account: Account, body: Record<string, unknown>): Record<string, unknown> {
    const label = body.label ?? null;
    if (label !== null && (typeof label !== 'string' || label.length > 200))
      throw invalid('label', 'label must be a string of at most 200 characters');
    const size = body.size_bytes;
    if (size !== undefined && size !== null) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0)
        throw invalid('size_bytes', 'size_bytes must be a non-negative integer');
      if (size > this.o.limits.perObjectBytes) {
        throw new ApiError(422, 'object_too_large', `an object may hold at most ${this.o.limits.perObjectBytes} bytes; split it`, {
          field: 'size_bytes',
          max_bytes: this.o.limits.perObjectBytes,
        });
      }
    }
    const used = this.liveBytes(account.user_id);
    if (used + (typeof size === 'number' ? size : 0) > this.o.limits.perUserBytes || used >= this.o.limits.perUserBytes) {
      throw new ApiError(
        409,
        'quota_exceeded',
        `your live transit objects hold ${used} bytes of your ${this.o.limits.perUserBytes}-byte quota; delete some (DELETE /objects/{id})`,
        {
          used_bytes: used,
          quota_bytes: this.o.limits.perUserBytes,
        },
      );
    }
    const now = this.o.clock.now();
    const rec: ObjectRecord = {
      object_id: newObjectId(),
      owner: account.user_id,
      label: label as string | null,
      created_at: now,
      expires_at: now + OBJECT_TTL_MS,
      size_bytes: null,
      uploaded_at: null,
      etag: null,
      state: 'live',
      expiry: undefined,
      uploading: 0,
    };
    rec.expiry = this.o.clock.at(rec.expires_at, () => this.expire(rec));
    this.objects.set(rec.object_id, rec);
    return {
      ...this.view(rec),
      put_url: this.presign('PUT', rec.object_id),
      put_url_expires_at: iso(now + URL_TTL_S * 1000),
      max_bytes: this.o.limits.perObjectBytes,
    };
  }

  list(account: Account): Record<string, unknown>[] {
    return [...this.objects.values()]
      .filter((r) => r.owner === account.user_id && r.state === 'live')
      .sort((a, b) => b.created_at - a.created_at)
      .map((r) => this.view(r));
  }

  /** GET /objects/{id}: the record with a fresh presigned GET (reusable for 1 h). */
  get(account: Account, id: string): Record<string, unknown> {
    const rec = this.find(account, id);
    if (rec.state === 'expired') {
      throw new ApiError(
        410,
        'object_expired',
        `object ${id} expired at ${iso(rec.expires_at)} (objects live 24 h after creation); upload it again`,
        { object_id: id, expired_at: iso(rec.expires_at) },
      );
    }
    const now = this.o.clock.now();
    return {
      ...this.view(rec),
      get_url: this.presign('GET', id),
      get_url_expires_at: iso(Math.min(now + URL_TTL_S * 1000, rec.expires_at)),
    };
  }

  /** DELETE /objects/{id}: idempotent (an already deleted or expired object answers the same). */
  delete(account: Account, id: string): Record<string, unknown> {
    const rec = this.objects.get(id);
    if (!rec || rec.owner !== account.user_id)
      throw new ApiError(404, 'not_found', `no object ${id.slice(0, 80)} in your account (GET /objects lists them)`);
    if (rec.state === 'live') {
      rec.state = 'deleted';
      rec.expiry?.cancel();
      this.removeBytes(rec);
    }
    return { object_id: id, deleted: true };
  }

  private find(account: Account, id: string): ObjectRecord {
    const rec = this.objects.get(id);
    if (!rec || rec.owner !== account.user_id || rec.state === 'deleted')
      throw new ApiError(404, 'not_found', `no object ${id.slice(0, 80)} in your account (GET /objects lists them)`);
    return rec;
  }

  private view(r: ObjectRecord): Record<string, unknown> {
    return {
      object_id: r.object_id,
      label: r.label,
      size_bytes: r.size_bytes,
      uploaded: r.size_bytes !== null,
      created_at: iso(r.created_at),
      expires_at: iso(r.expires_at),
    };
  }

  private expire(r: ObjectRecord): void {
    if (r.state !== 'live') return;
    r.state = 'expired';
    this.removeBytes(r);
  }

  private removeBytes(r: ObjectRecord): void {
    rmSync(this.path(r.object_id), { force: true });
    r.size_bytes = null;
  }

  private path(id: string): string {
    return join(this.o.dir, id);
  }

  // ── presigned URLs ───────────────────────────────────────────────────────────────────────

  presign(method: 'GET' | 'PUT', id: string): string {
    return this.urls.presign(method, id);
  }

  /** Serves `/_objects/<id>` (GET/PUT with a presigned query). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void> {
    const method = req.method ?? 'GET';
    // A refused PUT: let the client finish sending first (bounded), so it reads the error rather
    // than a reset of the connection it is still uploading on (curl: "Send failure").
    const fail = async (status: number, code: string, message: string): Promise<void> => {
      if (method === 'PUT') await finishReading(req);
      sendS3Error(res, status, code, message, requestId, method === 'PUT');
    };
    const id = url.pathname.slice('/_objects/'.length);
    if (method !== 'GET' && method !== 'PUT' && method !== 'HEAD')
      return fail(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    const refused = this.urls.refusal(method, url, req.headers);
    if (refused) return fail(refused.status, refused.code, refused.message);
    const rec = this.objects.get(id);
    if (!rec || rec.state !== 'live') return fail(404, 'NoSuchKey', 'The specified key does not exist.');
    if (method === 'PUT') return this.put(req, res, rec, fail);
    if (rec.size_bytes === null) return fail(404, 'NoSuchKey', 'The specified key does not exist (nothing was uploaded yet).');
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': rec.size_bytes,
      ETag: `"${rec.etag}"`,
      'Last-Modified': new Date(rec.uploaded_at ?? rec.created_at).toUTCString(),
    });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const rs = createReadStream(this.path(id));
      rs.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', resolve);
      rs.pipe(res);
    });
  }

  private async put(
    req: IncomingMessage,
    res: ServerResponse,
    rec: ObjectRecord,
    fail: (s: number, c: string, m: string) => Promise<void>,
  ): Promise<void> {
    const cl = req.headers['content-length'];
    if (cl === undefined || !/^\d+$/.test(cl))
      return fail(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header (curl: use --upload-file, not -d @-).');
    const length = Number(cl);
    if (length > this.o.limits.perObjectBytes)
      return fail(
        422,
        'EntityTooLarge',
        `Your proposed upload exceeds the maximum allowed object size (${this.o.limits.perObjectBytes} bytes).`,
      );
    const used = this.liveBytes(rec.owner) - (rec.size_bytes ?? 0);
    if (used + length > this.o.limits.perUserBytes)
      return fail(
        409,
        'QuotaExceeded',
        `This upload would exceed your transit-object quota (${used} of ${this.o.limits.perUserBytes} bytes in use).`,
      );
    rec.uploading += length;
    const tmp = `${this.path(rec.object_id)}.part-${randomBytes(4).toString('hex')}`;
    const hash = createHash('md5');
    let received = 0;
    const ok = await new Promise<boolean>((resolve) => {
      const ws = createWriteStream(tmp);
      let done = false;
      const finish = (v: boolean): void => {
        if (done) return;
        done = true;
        if (!v) ws.destroy();
        resolve(v);
      };
      req.on('data', (c: Buffer) => {
        received += c.length;
        hash.update(c);
        if (received > length) finish(false);
      });
      req.on('aborted', () => finish(false));
      req.on('error', () => finish(false));
      ws.on('error', () => finish(false));
      req.pipe(ws);
      ws.on('finish', () => finish(received === length));
    });
    rec.uploading -= length;
    if (!ok || rec.state !== 'live') {
      rmSync(tmp, { force: true });
      if (rec.state !== 'live') return fail(404, 'NoSuchKey', 'The object was deleted or expired during the upload.');
      return fail(
        400,
        'IncompleteBody',
        `You did not provide the number of bytes specified by the Content-Length HTTP header (${received} of ${length}).`,
      );
    }
    renameSync(tmp, this.path(rec.object_id));
    rec.size_bytes = length;
    rec.uploaded_at = this.o.clock.now();
    rec.etag = hash.digest('hex');
    res.writeHead(200, { ETag: `"${rec.etag}"`, 'Content-Length': 0 });
    res.end();
  }

  /** Remove every stored byte (shutdown). */
  dispose(): void {
    for (const r of this.objects.values()) r.expiry?.cancel();
  }
}

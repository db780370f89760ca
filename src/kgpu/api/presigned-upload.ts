/**
 * Uploading to a transit object's presigned PUT URL (contract, "Transit objects"): the object store,
 * not the kgpu API — so no Authorization header, no retries, and an inactivity timeout rather than a
 * total one (big uploads take as long as they take).
 */
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { KgpuAbortedError } from './api-error';
import { BodyTooLargeError, readBodyText } from './bounded-body';
import { networkError } from './network-error';
import { jsonErrorField } from './json-body';
import { KgpuError } from '../util/kgpu-error';

/** An object store's answer to a PUT is a short XML error at most. */
const MAX_PUT_RESPONSE_BYTES = 64 * 1024;

/** What an upload sends: bytes, a stream of exactly `size` bytes, or a local file. */
export type UploadSource = Uint8Array | Readable | { filePath: string };

export interface PutOptions {
  signal?: AbortSignal;
  /** Fail when no byte has moved for this long. */
  idleMs: number;
  /** Bytes sent so far. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** An upload to a presigned URL was refused by the object store. */
export class KgpuUploadError extends KgpuError {
  get userMessage(): string {
    return this.message;
  }

  constructor(
    readonly status: number,
    readonly code: string,
    readonly path: string,
  ) {
    super(
      'api',
      'upload_refused',
      `The object store refused the upload (${status} ${code}) — the upload link may have expired (valid 1 h) or been altered; create a new transit object and upload again.`,
    );
    this.name = 'KgpuUploadError';
  }
}

/**
 * PUT `size` bytes to a presigned URL: Content-Length and nothing else (extra headers break the
 * signature; no Authorization — the URL is the credential). The timeout is an inactivity
 * timeout here (no bytes moving for that long), so big uploads are not cut off. Not retried.
 */
export async function putToPresignedUrl(
  dispatcher: Dispatcher,
  putUrl: string,
  source: UploadSource,
  size: number,
  o: PutOptions,
): Promise<void> {
  const url = new URL(putUrl);
  const shownPath = url.pathname; // never the query string: it holds the signature
  const idleMs = o.idleMs;
  const ctrl = new AbortController();
  let timedOut = false;
  let sent = 0;
  let watchdog: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
    }, idleMs);
  };
  const onAbort = (): void => ctrl.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) ctrl.abort();
  const input: Readable =
    source instanceof Readable
      ? source
      : source instanceof Uint8Array
        ? Readable.from([Buffer.from(source)])
        : createReadStream(source.filePath);
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      arm();
      o.onProgress?.(sent, size);
      done(null, chunk);
    },
  });
  let sourceError: unknown;
  input.once('error', (err) => {
    sourceError = err;
    counted.destroy(err);
  });
  input.pipe(counted);
  arm();
  try {
    const res = await request(url, {
      dispatcher,
      method: 'PUT',
      headers: { 'content-length': String(size) },
      body: counted,
      signal: ctrl.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const text = await readBodyText(res.body, MAX_PUT_RESPONSE_BYTES).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) return res.statusCode >= 300 ? '' : 'ok'; // only an error's text matters here
      throw err;
    });
    if (res.statusCode >= 300) {
      const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? jsonErrorField(text);
      throw new KgpuUploadError(res.statusCode, typeof code === 'string' ? code : `http_${res.statusCode}`, shownPath);
    }
  } catch (e) {
    input.destroy(); // a failed upload leaves no file handle open
    if (e instanceof KgpuUploadError) throw e;
    if (o.signal?.aborted) throw new KgpuAbortedError('The upload', o.signal.reason);
    if (sourceError !== undefined) throw sourceError; // reading the local file/stream failed, not the network
    throw networkError(e, 'PUT', shownPath, timedOut, idleMs, url.origin, sent > 0);
  } finally {
    clearTimeout(watchdog);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

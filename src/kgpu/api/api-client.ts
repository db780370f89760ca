/**
 * The typed kgpu REST client (undici). One instance per API base; `close()` it when done.
 *
 * - Every call has a timeout (headers + body) and takes an AbortSignal.
 * - The token comes from a provider asked on each call; after a 401 it is asked once more with
 *   `forceRefresh: true` and the call is repeated once; a second 401 is a KgpuApiError(401).
 * - Only GET and DELETE are retried (network errors, 429, 5xx; exponential backoff with jitter,
 *   Retry-After respected). POST /pods is never retried blindly: after a lost answer the client
 *   looks in GET /pods for the pod this request created (see `rent`).
 * One HTTP exchange (deadline, size bound, failures classified): http-exchange.ts.
 */
import type { Dispatcher } from 'undici';
import { restDispatcher, type ProxySettings } from '../net/proxy-dispatcher';
import { KgpuApiError, KgpuNetworkError, redactTokens, type ErrorContext } from './api-error';
import type {
  Balance,
  Cluster,
  CreatedObject,
  CreateObjectRequest,
  ErrorBody,
  ExecRequest,
  ExecResponse,
  GpuModel,
  Me,
  Pod,
  ReleaseResponse,
  RentRequest,
  RentResult,
  RotateKeyRequest,
  RotateKeyResponse,
  TransitObject,
} from './api-types';
import { exchange, header, type CallSpec, type RawResponse } from './http-exchange';
import { abortableDelay, backoffDelayMs, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter, type RetryPolicy } from './retry';
import { waitUntilReady, type WaitUntilReadyOptions } from './wait-ready';
import { parseJsonObject } from './json-body';
import { putToPresignedUrl, type UploadSource } from './presigned-upload';
import { rentPod } from './rent';

/** Returns the account token, or undefined when signed out. `forceRefresh` after a 401: re-read
 *  the stored token (it may have been reissued) rather than a cached copy. */
export type TokenProvider = (options: { forceRefresh: boolean }) => Promise<string | undefined>;

export interface KgpuClientOptions {
  /** e.g. https://api.kgpu.net/v1 (a trailing slash is ignored). */
  apiBase: string;
  getToken: TokenProvider;
  /** Per-attempt deadline for headers + body, default 30 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Use this dispatcher instead of the client's own keep-alive Agent (not closed by close()). */
  dispatcher?: Dispatcher;
  /** Proxy settings for the client's own dispatcher (src/kgpu/net/proxy-dispatcher.ts); default: the environment's. */
  proxy?: ProxySettings;
  /** After an interrupted POST /pods found nothing in GET /pods, look once more after this long
   *  before concluding nothing was created (default 1 s). */
  rentSettleMs?: number;
  /** The biggest response body read (default 16 MiB); a bigger one fails as a bad response. */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's per-attempt timeout for this call. */
  timeoutMs?: number;
}

export interface CreateObjectOptions extends CallOptions {
  /** Announce the size: an over-quota or too-large object is refused before any upload. */
  sizeBytes?: number;
}

export interface UploadOptions extends CallOptions {
  /** Bytes sent so far. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class KgpuClient {
  readonly apiBase: string;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly getToken: TokenProvider;
  private readonly timeoutMs: number;
  private readonly retryPolicy: RetryPolicy;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly rentSettleMs: number;
  private readonly maxResponseBytes: number;
  private closed = false;

  constructor(options: KgpuClientOptions) {
    const url = new URL(options.apiBase);
    this.apiBase = options.apiBase.replace(/\/+$/, '');
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.getToken = options.getToken;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.ownsDispatcher = !options.dispatcher;
    this.dispatcher = options.dispatcher ?? restDispatcher(options.proxy);
    this.rentSettleMs = options.rentSettleMs ?? 1_000;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  // ── read-only ────────────────────────────────────────────────────────────────

  /** `GET /gpu-models` — public, no token needed. */
  async listGpuModels(o: CallOptions = {}): Promise<GpuModel[]> {
    return expectArray<GpuModel>(await this.call({ method: 'GET', path: '/gpu-models', auth: false }, o), 'models');
  }

  async getMe(o: CallOptions = {}): Promise<Me> {
    return (await this.call({ method: 'GET', path: '/me', auth: true }, o)) as Me;
  }

  async getBalance(o: CallOptions = {}): Promise<Balance> {
    return (await this.call({ method: 'GET', path: '/balance', auth: true }, o)) as Balance;
  }

  async getCluster(o: CallOptions = {}): Promise<Cluster> {
    const r = await this.call({ method: 'GET', path: '/cluster', auth: true }, o);
    return (Array.isArray(r) ? { nodes: r } : r) as Cluster;
  }

  /** `GET /pods` — your pods, newest first (ended ones included). */
  async listPods(o: CallOptions = {}): Promise<Pod[]> {
    return expectArray<Pod>(await this.call({ method: 'GET', path: '/pods', auth: true }, o), 'pods');
  }

  /** `GET /pods/{id}` — works after the pod is gone (historical row with end_reason). */
  async getPod(podId: string, o: CallOptions = {}): Promise<Pod> {
    return (await this.call({ method: 'GET', path: `/pods/${enc(podId)}`, auth: true, context: { podId } }, o)) as Pod;
  }

  // ── pods ─────────────────────────────────────────────────────────────────────

  /**
   * `POST /pods`. Never rents twice: the request carries a unique `env.KGPU_CLIENT_REQUEST_ID`
   * and, when its answer is lost (connection dropped, timeout, 5xx), the client looks in
   * `GET /pods` for a pod this request created (new since just before the POST, same name,
   * model and count — and the marker when the server shows env). Found → it is returned with
   * `recovered: true` (a server-minted key is re-minted with PATCH, since the lost answer held
   * the only copy). Not found → retried once only when the server clearly did not create one.
   * The flow is in rent.ts.
   */
  async rent(req: RentRequest = {}, o: CallOptions = {}): Promise<RentResult> {
    const post = async (body: RentRequest, context: ErrorContext, po: CallOptions): Promise<RentResult> =>
      (await this.call({ method: 'POST', path: '/pods', body, auth: true, context }, po)) as RentResult;
    return rentPod(
      { client: this, post, retryPolicy: this.retryPolicy, rentSettleMs: this.rentSettleMs, timeoutMs: this.timeoutMs },
      req,
      o,
    );
  }

  /** `PATCH /pods/{id}`: pin `ssh_pubkey`, or (empty body) have a fresh key pair minted — returned once. */
  async rotateSshKey(podId: string, req: RotateKeyRequest = {}, o: CallOptions = {}): Promise<RotateKeyResponse> {
    return (await this.call(
      { method: 'PATCH', path: `/pods/${enc(podId)}`, body: req, auth: true, context: { podId } },
      o,
    )) as RotateKeyResponse;
  }

  /** `DELETE /pods/{id}` — release (idempotent, so retried). */
  async release(podId: string, o: CallOptions = {}): Promise<ReleaseResponse> {
    const r = await this.call({ method: 'DELETE', path: `/pods/${enc(podId)}`, auth: true, context: { podId } }, o);
    return (r ?? { pod_id: podId }) as ReleaseResponse;
  }

  /** `POST /pods/{id}/exec` — one-shot command; the call waits up to `timeout_seconds` on top of the client timeout. Not retried. */
  async exec(podId: string, req: ExecRequest, o: CallOptions = {}): Promise<ExecResponse> {
    const extra = (req.timeout_seconds ?? 60) * 1000;
    return (await this.call(
      { method: 'POST', path: `/pods/${enc(podId)}/exec`, body: req, auth: true, context: { podId }, extraTimeoutMs: extra },
      o,
    )) as ExecResponse;
  }

  /** Poll until the pod is ready; see wait-ready.ts. */
  waitUntilReady(podId: string, options: WaitUntilReadyOptions = {}): Promise<Pod> {
    return waitUntilReady(this, podId, options);
  }

  // ── transit objects ──────────────────────────────────────────────────────────

  /** `POST /objects` — a 24 h object with a presigned PUT (valid 1 h). Not retried. */
  async createObject(label?: string, o: CreateObjectOptions = {}): Promise<CreatedObject> {
    const body: CreateObjectRequest = {};
    if (label !== undefined) body.label = label;
    if (o.sizeBytes !== undefined) body.size_bytes = o.sizeBytes;
    return (await this.call({ method: 'POST', path: '/objects', body, auth: true }, o)) as CreatedObject;
  }

  async listObjects(o: CallOptions = {}): Promise<TransitObject[]> {
    return expectArray<TransitObject>(await this.call({ method: 'GET', path: '/objects', auth: true }, o), 'objects');
  }

  /** `GET /objects/{id}` — with a fresh presigned `get_url` (reusable by many pods for 1 h). */
  async getObject(objectId: string, o: CallOptions = {}): Promise<TransitObject> {
    return (await this.call({ method: 'GET', path: `/objects/${enc(objectId)}`, auth: true, context: { objectId } }, o)) as TransitObject;
  }

  /** `DELETE /objects/{id}` — idempotent. */
  async deleteObject(objectId: string, o: CallOptions = {}): Promise<void> {
    await this.call({ method: 'DELETE', path: `/objects/${enc(objectId)}`, auth: true, context: { objectId } }, o);
  }

  /**
   * PUT `size` bytes to a presigned URL (presigned-upload.ts): Content-Length and nothing else, no
   * Authorization (the URL is the credential); the timeout is an inactivity timeout. Not retried.
   */
  uploadToPutUrl(putUrl: string, source: UploadSource, size: number, o: UploadOptions = {}): Promise<void> {
    return putToPresignedUrl(this.dispatcher, putUrl, source, size, { ...o, idleMs: o.timeoutMs ?? this.timeoutMs });
  }

  /** Close the client's connections. Calls after close() fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  dispose(): void {
    void this.close();
  }

  // ── internals ────────────────────────────────────────────────────────────────

  private async call(spec: CallSpec, o: CallOptions): Promise<unknown> {
    if (this.closed) throw new Error('KgpuClient is closed');
    const retryable = spec.method === 'GET' || spec.method === 'DELETE';
    const maxAttempts = retryable ? Math.max(1, this.retryPolicy.maxAttempts) : 1;
    let token = spec.auth ? await this.getToken({ forceRefresh: false }) : undefined;
    if (spec.auth && !token) {
      throw new KgpuApiError(401, spec.method, spec.path, undefined, { error: 'unauthorized', message: 'not signed in' }, spec.context);
    }
    let reauthed = false;
    for (let attempt = 1; ; attempt++) {
      let res: RawResponse;
      try {
        res = await this.once(spec, token, o);
      } catch (e) {
        if (retryable && e instanceof KgpuNetworkError && attempt < maxAttempts) {
          await abortableDelay(backoffDelayMs(this.retryPolicy, attempt), o.signal);
          continue;
        }
        throw e;
      }
      const requestId = header(res.headers, 'x-request-id');
      if (res.status === 401 && spec.auth && !reauthed) {
        reauthed = true;
        const fresh = await this.getToken({ forceRefresh: true });
        if (fresh) {
          token = fresh;
          attempt--; // a re-auth is not a retry
          continue;
        }
      }
      if (res.status >= 400) {
        const retryAfter = parseRetryAfter(res.headers['retry-after']);
        if (retryable && isRetryableStatus(res.status) && attempt < maxAttempts) {
          if (retryAfter === undefined || retryAfter <= this.retryPolicy.maxRetryAfterMs) {
            await abortableDelay(backoffDelayMs(this.retryPolicy, attempt, retryAfter), o.signal);
            continue;
          }
        }
        const context = retryAfter === undefined ? spec.context : { ...spec.context, retryAfterMs: retryAfter };
        throw new KgpuApiError(res.status, spec.method, spec.path, requestId, errorBody(res), context);
      }
      if (res.text === '') return undefined;
      const parsed = parseJsonObject(res.text);
      if (parsed === undefined) {
        throw new KgpuApiError(
          502,
          spec.method,
          spec.path,
          requestId,
          { error: 'bad_response', message: 'kgpu sent a response that is not JSON' },
          spec.context,
        );
      }
      return parsed;
    }
  }

  /** One HTTP exchange with a deadline covering headers and body. */
  private once(spec: CallSpec, token: string | undefined, o: CallOptions): Promise<RawResponse> {
    const target = {
      url: `${this.origin}${this.basePath}${spec.path}`,
      apiBase: this.apiBase,
      dispatcher: this.dispatcher,
      maxResponseBytes: this.maxResponseBytes,
    };
    return exchange(target, spec, token, (o.timeoutMs ?? this.timeoutMs) + (spec.extraTimeoutMs ?? 0), o.signal);
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function errorBody(res: RawResponse): ErrorBody {
  const parsed = parseJsonObject(res.text);
  if (parsed && typeof parsed.error === 'string') return parsed as ErrorBody;
  return { error: res.status === 401 ? 'unauthorized' : `http_${res.status}`, message: redactTokens(res.text.slice(0, 200)) };
}

/** A list endpoint returns an array (or, tolerated, `{<key>: [...]}`). */
function expectArray<T>(value: unknown, key: string): T[] {
  if (Array.isArray(value)) return value as T[];
  if (typeof value === 'object' && value !== null) {
    const inner = (value as Record<string, unknown>)[key];
    if (Array.isArray(inner)) return inner as T[];
  }
  throw new Error(`kgpu sent an unexpected response shape (expected a list of ${key})`);
}

/**
 * One HTTP exchange of the kgpu REST client (undici): JSON in and out, the Bearer token when given,
 * a deadline over headers and body, the caller's AbortSignal, and a bound on the response's size.
 * Failures come back as KgpuAbortedError, KgpuNetworkError (which phase failed) or, for an
 * oversized body, KgpuApiError(502). Retries and re-authentication are the client's (api-client.ts).
 */
import { request, type Dispatcher } from 'undici';
import { KgpuAbortedError, KgpuApiError, type ErrorContext } from './api-error';
import { BodyTooLargeError, readBodyText } from './bounded-body';
import { networkError } from './network-error';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface CallSpec {
  method: Method;
  path: string;
  body?: unknown;
  /** Send the Bearer token (false only for GET /gpu-models). */
  auth: boolean;
  context?: ErrorContext;
  /** Extra time on top of the timeout (exec waits up to timeout_seconds). */
  extraTimeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface ExchangeTarget {
  /** The request's full URL. */
  url: string;
  /** The API base, for error messages. */
  apiBase: string;
  dispatcher: Dispatcher;
  maxResponseBytes: number;
}

/** A response header's (first) value. */
export function header(headers: RawResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** One HTTP exchange with a deadline (`timeoutMs`) covering headers and body. */
export async function exchange(
  target: ExchangeTarget,
  spec: CallSpec,
  token: string | undefined,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<RawResponse> {
  if (signal?.aborted) throw new KgpuAbortedError(`${spec.method} ${spec.path}`, signal.reason);
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, timeoutMs);
  const onAbort = (): void => ctrl.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (spec.body !== undefined) {
    body = JSON.stringify(spec.body);
    headers['content-type'] = 'application/json';
  }
  let phaseSent = false;
  try {
    const res = await request(target.url, {
      dispatcher: target.dispatcher,
      method: spec.method,
      headers,
      body,
      signal: ctrl.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    phaseSent = true;
    const text = await readBodyText(res.body, target.maxResponseBytes).catch((err: unknown) => {
      if (!(err instanceof BodyTooLargeError)) throw err;
      throw new KgpuApiError(
        502,
        spec.method,
        spec.path,
        header(res.headers, 'x-request-id'),
        {
          error: 'bad_response',
          message: `${target.apiBase} sent a response larger than ${(err.maxBytes / 1048576).toFixed(err.maxBytes < 10 * 1048576 ? 1 : 0)} MiB; kgpu stopped reading it. Check that kgpu.apiBase is the kgpu API`,
        },
        spec.context,
      );
    });
    return { status: res.statusCode, headers: res.headers, text };
  } catch (e) {
    if (e instanceof KgpuApiError) throw e;
    if (signal?.aborted) throw new KgpuAbortedError(`${spec.method} ${spec.path}`, signal.reason);
    throw networkError(e, spec.method, spec.path, timedOut, timeoutMs, target.apiBase, phaseSent);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

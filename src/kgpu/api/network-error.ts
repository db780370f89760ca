/**
 * An undici failure as a KgpuNetworkError: timed out, never reached the server (it is safe to
 * send again), or lost on the way (it may have been acted on).
 */
import { KgpuNetworkError, type NetworkErrorKind } from './api-error';

/** Codes meaning the request never reached the server. */
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  let fallback: string | undefined;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (!code.startsWith('UND_ERR_') || code === 'UND_ERR_CONNECT_TIMEOUT' || code.endsWith('_TIMEOUT')) return code;
      fallback ??= code;
    }
    if (cur instanceof AggregateError && cur.errors.length > 0) cur = cur.errors[0];
    else cur = (cur as { cause?: unknown }).cause;
  }
  return fallback;
}

/** `e` from undici as what happened, for the user and for the retry decision. */
export function networkError(
  e: unknown,
  method: string,
  path: string,
  timedOut: boolean,
  timeoutMs: number,
  base: string,
  gotHeaders: boolean,
): KgpuNetworkError {
  const code = errorCode(e);
  let kind: NetworkErrorKind;
  if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') kind = 'timeout';
  else if (code !== undefined && NEVER_SENT_CODES.has(code)) kind = 'unreachable';
  else kind = 'connection_lost';
  const requestSent = kind !== 'unreachable' || gotHeaders;
  return new KgpuNetworkError(kind, base, method, path, code, requestSent, { cause: e, timeoutMs });
}

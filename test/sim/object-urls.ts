/**
 * The transit objects' presigned URLs, signed and checked the way S3/R2 does: an HMAC (over method,
 * path, date, expiry, signed header names and their values) under a secret of this simulator run.
 * A request is refused — with S3's status, code and message — when its query lacks a field, its
 * signature does not match, it carries an unsigned `x-amz-*` header (or, for a PUT, any header an
 * HTTP client does not send by itself), or the URL is malformed or expired. ObjectStore (objects.ts)
 * serves the bytes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const URL_TTL_S = 3600;

/** What HTTP clients send by themselves (curl --upload-file, Node's http/undici/fetch): a presigned
 *  PUT may carry these besides its signed headers; anything else breaks the signature. */
const TRANSPORT_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'connection',
  'keep-alive',
  'expect',
  'te',
  'sec-fetch-mode',
]);

function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

/** Why a request to a presigned URL is refused. */
export interface UrlRefusal {
  status: number;
  code: string;
  message: string;
}

const refuse = (status: number, code: string, message: string): UrlRefusal => ({ status, code, message });

export class PresignedUrls {
  private readonly secret = randomBytes(32);

  constructor(private readonly o: { origin: () => string; now: () => number }) {}

  presign(method: 'GET' | 'PUT', id: string): string {
    const origin = new URL(this.o.origin());
    const path = `/_objects/${id}`;
    const date = amzDate(this.o.now());
    const q = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'kgpu-sim/auto/s3/aws4_request',
      'X-Amz-Date': date,
      'X-Amz-Expires': String(URL_TTL_S),
      'X-Amz-SignedHeaders': 'host',
    });
    q.set('X-Amz-Signature', this.sign(method, path, date, String(URL_TTL_S), 'host', [origin.host]));
    return `${origin.origin}${path}?${q.toString()}`;
  }

  private sign(method: string, path: string, date: string, expires: string, signedHeaders: string, values: string[]): string {
    return createHmac('sha256', this.secret)
      .update([method, path, date, expires, signedHeaders, ...values].join('\n'))
      .digest('hex');
  }

  /** Why this request to a presigned URL is refused, or undefined when its signature, headers and expiry are good. */
  refusal(method: string, url: URL, headers: IncomingHttpHeaders): UrlRefusal | undefined {
    const q = url.searchParams;
    const date = q.get('X-Amz-Date') ?? '';
    const expires = q.get('X-Amz-Expires') ?? '';
    const signedHeaders = q.get('X-Amz-SignedHeaders') ?? '';
    const signature = q.get('X-Amz-Signature') ?? '';
    if (!date || !expires || !signedHeaders || !signature)
      return refuse(
        403,
        'AccessDenied',
        'Query-string authentication requires X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.',
      );
    const names = signedHeaders.toLowerCase().split(';');
    const values = names.map((h) => String(headers[h] ?? ''));
    const expected = Buffer.from(this.sign(method === 'HEAD' ? 'GET' : method, url.pathname, date, expires, signedHeaders, values));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return refuse(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
    }
    const unsigned = Object.keys(headers).filter((h) => h.startsWith('x-amz-') && !names.includes(h));
    if (unsigned.length)
      return refuse(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);
    if (method === 'PUT' && Object.keys(headers).some((h) => !names.includes(h) && !TRANSPORT_HEADERS.has(h))) {
      return refuse(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
    }
    const start = parseAmzDate(date);
    const ttl = Number(expires);
    if (start === undefined || !Number.isInteger(ttl) || ttl < 1 || ttl > 604800)
      return refuse(403, 'AuthorizationQueryParametersError', 'X-Amz-Date or X-Amz-Expires is malformed.');
    if (this.o.now() > start + ttl * 1000) return refuse(403, 'AccessDenied', 'Request has expired');
    return undefined;
  }
}

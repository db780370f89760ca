/** Small helpers for Node's `http`: JSON and XML replies, bounded body reading. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-error';

export const REQUEST_ID_HEADER = 'X-Request-ID';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

/** `{error, message, ...extra}`; 5xx bodies add `trace_id` = the request id. */
export function sendError(res: ServerResponse, requestId: string, e: ApiError): void {
  const body: Record<string, unknown> = { error: e.code, message: e.message, ...e.extra, request_id: requestId };
  if (e.status >= 500) body.trace_id = requestId;
  sendJson(res, e.status, body, e.headers);
}

/** S3-style XML error (the presigned object URLs speak S3, like R2 does). */
export function sendS3Error(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  requestId: string,
  closeAfter = false,
): void {
  if (res.headersSent || res.destroyed) return;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message><RequestId>${requestId}</RequestId></Error>\n`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(text),
    ...(closeAfter ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

/** Reads the whole body, up to `limit` bytes (413 beyond, before reading it all). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    });
  });
}

function tooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    'payload_too_large',
    `the request body is larger than ${limit} bytes; send less (exec stdin ≤ 1 MiB — use SSH or /objects for bigger data)`,
    { max_bytes: limit },
  );
}

/** A JSON object body; empty body → {} (every field optional). */
export function parseJsonObject(buf: Buffer): Record<string, unknown> {
  const text = buf.toString('utf8');
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'invalid_json', `the request body is not valid JSON: ${(e as Error).message.slice(0, 120)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ApiError(400, 'invalid_body', 'the request body must be a JSON object');
  return v as Record<string, unknown>;
}

/** Let the client finish sending (so it reads our error instead of a reset), within bounds. */
export function finishReading(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let seen = 0;
    const timer = setTimeout(done, 5000);
    function done(): void {
      clearTimeout(timer);
      req.off('data', onData);
      resolve();
    }
    function onData(c: Buffer): void {
      seen += c.length;
      if (seen > 64 * 1024 * 1024) {
        req.socket.destroy();
        done();
      }
    }
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}

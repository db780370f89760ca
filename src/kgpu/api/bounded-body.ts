/**
 * Reading an HTTP response body with a bound: a server (or anything posing as one) that sends an
 * endless or huge body is cut off at the bound + 1 byte instead of being buffered whole.
 */
import { KgpuError } from '../util/kgpu-error';

export class BodyTooLargeError extends KgpuError {
  constructor(readonly maxBytes: number) {
    super('api', 'body_too_large', `The response is larger than ${(maxBytes / 1048576).toFixed(maxBytes < 10 * 1048576 ? 1 : 0)} MiB.`);
    this.name = 'BodyTooLargeError';
  }
}

/** The body as UTF-8 text, at most `maxBytes`; destroys the body and throws BodyTooLargeError past it. */
export async function readBodyText(
  body: AsyncIterable<Buffer | Uint8Array> & { destroy?(err?: Error): unknown },
  maxBytes: number,
): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += chunk.length;
    if (n > maxBytes) {
      const e = new BodyTooLargeError(maxBytes);
      body.destroy?.(e);
      throw e;
    }
    parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return Buffer.concat(parts, n).toString('utf8');
}

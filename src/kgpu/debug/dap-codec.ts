/**
 * The Debug Adapter Protocol's wire format (a `Content-Length: n\r\n\r\n` header, then n bytes of
 * JSON) over a byte stream to the pod. VS Code's inline adapters exchange message objects, so the
 * framing is needed only on the pod side; it is a dozen lines, and every read of pod data is
 * bounded: a header longer than 8 KiB or a body over `maxMessageBytes` is a protocol error and
 * nothing of that size is buffered.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { KgpuError } from '../util/kgpu-error';

export type DapMessage = DebugProtocol.ProtocolMessage & Record<string, unknown>;

export const MAX_DAP_HEADER = 8 * 1024;
export const DEFAULT_MAX_DAP_MESSAGE = 64 * 1024 * 1024;

export class DapFramingError extends KgpuError {
  constructor(message: string) {
    super('debug', 'dap_framing', message);
  }
}

export function encodeDap(message: object): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/** Feed bytes in with `push`; whole messages come out of it, in order. */
export class DapDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private bodyLength = -1;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_DAP_MESSAGE) {}

  /** The messages completed by `chunk`. Throws DapFramingError on a malformed or oversized message. */
  push(chunk: Buffer): DapMessage[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: DapMessage[] = [];
    for (;;) {
      if (this.bodyLength < 0) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > MAX_DAP_HEADER) throw new DapFramingError(`a DAP header longer than ${MAX_DAP_HEADER} bytes`);
          return out;
        }
        const header = this.buf.subarray(0, end).toString('ascii');
        const m = /(?:^|\r\n)Content-Length:\s*(\d+)\s*(?:\r\n|$)/i.exec(header);
        if (!m) throw new DapFramingError(`a DAP header without Content-Length: ${JSON.stringify(header.slice(0, 200))}`);
        const n = Number(m[1]);
        if (!Number.isSafeInteger(n) || n > this.maxMessageBytes)
          throw new DapFramingError(`a DAP message of ${m[1]} bytes (the limit is ${this.maxMessageBytes})`);
        this.bodyLength = n;
        this.buf = this.buf.subarray(end + 4);
      }
      if (this.buf.length < this.bodyLength) return out;
      const body = this.buf.subarray(0, this.bodyLength).toString('utf8');
      this.buf = this.buf.subarray(this.bodyLength);
      this.bodyLength = -1;
      let msg: unknown;
      try {
        msg = JSON.parse(body);
      } catch {
        throw new DapFramingError(`a DAP message that is not JSON: ${JSON.stringify(body.slice(0, 200))}`);
      }
      if (!msg || typeof msg !== 'object' || typeof (msg as { type?: unknown }).type !== 'string')
        throw new DapFramingError('a DAP message without a type');
      out.push(msg as DapMessage);
    }
  }
}

/**
 * The pod agent's wire format (docs/agent-protocol.md; the agent is pod/agent.py): frames of a
 * 9-byte header — type (u8), stream id (u32 BE), payload length (u32 BE) — and a payload. This
 * file holds the constants, the encoders and an incremental decoder that refuses an unknown type
 * or an oversized length as soon as the header is in, before allocating anything for the payload.
 */
import { AgentProtocolError } from './errors';

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 9;
/** Largest payload either side accepts; a longer frame ends the connection. */
export const MAX_PAYLOAD = 256 * 1024;
/** Largest DATA payload either side sends. */
export const MAX_DATA_CHUNK = 64 * 1024;
/** Credit can never exceed this (a WINDOW that would overflow it is a protocol error). */
export const MAX_WINDOW = 0x7fffffff;
/** Largest PING payload. */
export const MAX_PING = 64;

export const FrameType = {
  HELLO: 0x01,
  OPEN: 0x02,
  OPEN_OK: 0x03,
  OPEN_FAIL: 0x04,
  DATA: 0x05,
  STDERR: 0x06,
  WINDOW: 0x07,
  EOF: 0x08,
  CLOSE: 0x09,
  RESET: 0x0a,
  EXIT: 0x0b,
  PING: 0x0c,
  PONG: 0x0d,
  ERROR: 0x0e,
  BLOCKED: 0x0f,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const NAMES = new Map<number, string>(Object.entries(FrameType).map(([k, v]) => [v, k]));

export function frameName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export interface Frame {
  type: FrameType;
  stream: number;
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** One frame as bytes (header and payload in one buffer: one write, one SSH packet). */
export function encodeFrame(type: FrameType, stream: number, payload: Buffer = EMPTY): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`a ${frameName(type)} payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt8(type, 0);
  out.writeUInt32BE(stream >>> 0, 1);
  out.writeUInt32BE(payload.length, 5);
  payload.copy(out, HEADER_BYTES);
  return out;
}

export function encodeJson(type: FrameType, stream: number, value: unknown, prefix?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  return encodeFrame(type, stream, prefix ? Buffer.concat([prefix, json]) : json);
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** A JSON object payload (OPEN, OPEN_OK, OPEN_FAIL, RESET, EXIT, HELLO, ERROR), or a protocol error. */
export function parseJsonPayload(payload: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new AgentProtocolError(`${what}: the payload is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AgentProtocolError(`${what}: the payload is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Incremental decoder. `push(chunk)` returns the frames completed by it; it throws
 * AgentProtocolError (and stays failed) on an unknown type or a length over MAX_PAYLOAD. Holds
 * at most one partial frame (≤ HEADER_BYTES + MAX_PAYLOAD bytes).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk in `chunks`. */
  private first = 0;
  private buffered = 0;
  private failed: AgentProtocolError | undefined;
  /** The header of the frame whose payload is awaited. */
  private head: { type: FrameType; stream: number; length: number } | undefined;

  /** Bytes held for a partial frame (its header included). */
  get pending(): number {
    return this.buffered + (this.head ? HEADER_BYTES : 0);
  }

  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.head) {
        if (this.buffered < HEADER_BYTES) break;
        const h = this.take(HEADER_BYTES);
        const type = h.readUInt8(0);
        const length = h.readUInt32BE(5);
        if (!NAMES.has(type)) throw (this.failed = new AgentProtocolError(`unknown frame type ${frameName(type)}`));
        if (length > MAX_PAYLOAD) {
          throw (this.failed = new AgentProtocolError(
            `a ${frameName(type)} frame of ${length} bytes exceeds the ${MAX_PAYLOAD}-byte limit`,
          ));
        }
        this.head = { type: type as FrameType, stream: h.readUInt32BE(1), length };
      }
      if (this.buffered < this.head.length) break;
      const { type, stream, length } = this.head;
      this.head = undefined;
      frames.push({ type, stream, payload: length ? this.take(length) : EMPTY });
    }
    return frames;
  }

  /** Consume n buffered bytes (zero-copy when they lie in one chunk). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[this.first];
    if (first.length >= n) {
      if (first.length === n) this.drop();
      else this.chunks[this.first] = first.subarray(n);
      return first.length === n ? first : first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[this.first];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.drop();
      else this.chunks[this.first] = c.subarray(k);
    }
    return out;
  }

  /** Forget the first chunk (an index, not Array.shift: a frame may span thousands of small chunks). */
  private drop(): void {
    this.first++;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 1024 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

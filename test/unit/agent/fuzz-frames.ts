/**
 * Frame bytes for the agent protocol's fuzz tests (fuzz-agent.test.ts against pod/agent.py,
 * fuzz-client.test.ts against AgentClient): a bare 9-byte header with any fields, and random input
 * made of plausible frames and plain junk, drawn from a seeded PRNG (prng.ts) so a failure replays.
 */

/** A frame header (type u8, stream u32, length u32) with no payload, whatever the fields say. */
export function frameHeader(type: number, stream: number, length: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUInt8(type, 0);
  b.writeUInt32BE(stream, 1);
  b.writeUInt32BE(length, 5);
  return b;
}

export interface RandomInput {
  /** 1 to this many parts. */
  maxParts: number;
  /** The chance that a part is a frame (else junk). */
  frameShare: number;
  /** A frame's payload is 0 to this many - 1 random bytes. */
  maxPayload: number;
  /** A junk part is 1 to this many random bytes. */
  maxJunk: number;
  /** A frame's stream id (may draw from the PRNG). */
  stream(): number;
}

/**
 * Random input: each part either a frame — a plausible type (1-15), `shape.stream()`, a length that
 * is its payload's (or 1 time in 10 any u32) and a random payload — or 1 to `maxJunk` random bytes.
 * The same `rnd` gives the same parts.
 */
export function randomParts(rnd: () => number, shape: RandomInput): Buffer[] {
  const parts: Buffer[] = [];
  const n = 1 + Math.floor(rnd() * shape.maxParts);
  for (let k = 0; k < n; k++) {
    if (rnd() < shape.frameShare) {
      const len = Math.floor(rnd() * shape.maxPayload);
      const h = Buffer.alloc(9 + len);
      h.writeUInt8(1 + Math.floor(rnd() * 15), 0);
      h.writeUInt32BE(shape.stream(), 1);
      h.writeUInt32BE(rnd() < 0.1 ? Math.floor(rnd() * 2 ** 32) : len, 5);
      for (let j = 9; j < h.length; j++) h[j] = Math.floor(rnd() * 256);
      parts.push(h);
    } else {
      parts.push(Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * shape.maxJunk) }, () => Math.floor(rnd() * 256))));
    }
  }
  return parts;
}

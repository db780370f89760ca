/**
 * A minimal POSIX tar (pax) writer and a streaming reader, for moving many files over ONE exec
 * channel (`tar -x` / `tar -c` in the pod). Writer: ustar headers plus a pax `x` record for long,
 * non-ASCII or control-character names and sizes ≥ 8 GiB. Reader: ustar, pax (`x`/`g`) and GNU
 * long names (`L`/`K`); file bodies are handed on in chunks, never buffered whole.
 */
import { KgpuError } from '../util/kgpu-error';

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

export interface TarFileHeader {
  path: string;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  type?: 'file' | 'dir' | 'symlink';
  /** A symlink's target (type 'symlink'; size must be 0). */
  linkname?: string;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`);
}

function rawHeader(name: Buffer, size: number, mode: number, mtime: number, type: string, linkname?: Buffer): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0, 0, Math.min(100, name.length));
  linkname?.copy(h, 157, 0, Math.min(100, linkname.length));
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.max(0, Math.floor(mtime)), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

export function padding(size: number): Buffer {
  const r = size % BLOCK;
  return r === 0 ? Buffer.alloc(0) : ZERO_BLOCK.subarray(0, BLOCK - r);
}

/** The header block(s) for one entry (a pax record first when needed). */
export function tarHeader(h: TarFileHeader): Buffer {
  const type = h.type === 'dir' ? '5' : h.type === 'symlink' ? '2' : '0';
  const name = Buffer.from(h.type === 'dir' && !h.path.endsWith('/') ? h.path + '/' : h.path, 'utf8');
  const link = h.type === 'symlink' ? Buffer.from(h.linkname ?? '', 'utf8') : undefined;
  const big = h.size >= 8 ** 11;
  const plain = name.length <= 100 && /^[\x20-\x7e]*$/.test(h.path);
  const plainLink = !link || (link.length <= 100 && /^[\x20-\x7e]*$/.test(h.linkname ?? ''));
  if (plain && plainLink && !big) return rawHeader(name, h.size, h.mode, h.mtime, type, link);
  const records: Buffer[] = [];
  if (!plain) records.push(paxRecord('path', name.toString('utf8')));
  if (!plainLink && link) records.push(paxRecord('linkpath', link.toString('utf8')));
  if (big) records.push(paxRecord('size', String(h.size)));
  const pax = Buffer.concat(records);
  const ascii = (b: Buffer): Buffer =>
    Buffer.from(
      b
        .toString('latin1')
        .replace(/[^\x20-\x7e]/g, '_')
        .slice(0, 100),
      'latin1',
    );
  return Buffer.concat([
    rawHeader(Buffer.from('PaxHeaders/kgpu'), pax.length, 0o644, h.mtime, 'x'),
    pax,
    padding(pax.length),
    rawHeader(ascii(name), big ? 0 : h.size, h.mode, h.mtime, type, link && ascii(link)),
  ]);
}

/** Two zero blocks: end of archive. */
export const TAR_END = Buffer.alloc(BLOCK * 2);

export interface TarEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtime: number;
  linkname: string;
}

export interface TarEntrySink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Reads exact byte counts from an async chunk source. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    return true;
  }

  /** Exactly n bytes, or undefined at a clean end of input before any byte. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      if (!(await this.fill())) {
        if (this.buf.length === 0) return undefined;
        throw new Error('The tar stream ended in the middle of an entry.');
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Read and discard everything left (tar pads archives to a 10 KiB record). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (!this.done) await this.fill();
    this.buf = Buffer.alloc(0);
  }

  /** Pass n bytes on in chunks as they arrive. */
  async pipe(n: number, onChunk: (b: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw new Error('The tar stream ended in the middle of a file.');
      const take = Math.min(left, this.buf.length);
      const chunk = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      await onChunk(chunk);
    }
  }
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
}

function parseNum(b: Buffer): number {
  if (b[0] & 0x80) {
    // base-256 (GNU) for big numbers
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n;
  }
  const s = cstr(b).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** A corrupted tar stream is refused, not misread: the header's checksum (the byte sum with the
 *  checksum field as spaces; some tars sum signed bytes) must match what it records. */
export class TarCorruptError extends KgpuError {
  constructor(message: string) {
    super('transfer', 'tar_corrupt', message);
  }
}

function checkHeader(h: Buffer): void {
  const field = cstr(h.subarray(148, 156)).trim();
  const recorded = /^[0-7]+$/.test(field) ? parseInt(field, 8) : NaN;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (recorded !== unsigned && recorded !== signed) {
    throw new TarCorruptError('The tar stream from the pod is corrupted (a header checksum does not match); nothing after it was read.');
  }
}

function parsePax(b: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(b.subarray(i, sp).toString('ascii'), 10);
    if (!(len > 0)) break;
    const rec = b.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) m.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return m;
}

/**
 * Read a tar stream, calling `onEntry` for each entry; return a sink to receive a file's bytes
 * (or undefined to skip them). Resolves at the end of the archive.
 */
export async function readTar(source: AsyncIterable<Buffer>, onEntry: (e: TarEntry) => Promise<TarEntrySink | undefined>): Promise<void> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await r.read(BLOCK);
    if (!h) return;
    if (h.every((x) => x === 0)) {
      // End of archive: consume the padding after it so the producer can finish.
      await r.drain();
      return;
    }
    checkHeader(h);
    const type = String.fromCharCode(h[156] || 0x30);
    let size = parseNum(h.subarray(124, 136));
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      const body = (await r.read(size)) ?? Buffer.alloc(0);
      await r.read(padding(size).length);
      if (type === 'x') pax = parsePax(body);
      else if (type === 'L') longName = cstr(body);
      else if (type === 'K') longLink = cstr(body);
      continue;
    }
    const prefix = cstr(h.subarray(345, 500));
    const ustar = h.subarray(257, 262).toString('ascii') === 'ustar';
    let name = pax.get('path') ?? longName ?? (ustar && prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)));
    if (pax.has('size')) size = Number(pax.get('size'));
    const linkname = pax.get('linkpath') ?? longLink ?? cstr(h.subarray(157, 257));
    const mtime = pax.has('mtime') ? Math.floor(Number(pax.get('mtime'))) : parseNum(h.subarray(136, 148));
    pax = new Map();
    longName = longLink = undefined;
    const kind: TarEntry['type'] =
      type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : 'other';
    if (kind === 'dir') name = name.replace(/\/+$/, '');
    const entry: TarEntry = {
      path: name,
      type: kind,
      size: kind === 'file' || kind === 'other' ? size : 0,
      mode: parseNum(h.subarray(100, 108)),
      mtime,
      linkname,
    };
    const sink = await onEntry(entry);
    const bodySize = entry.size;
    if (sink) {
      await r.pipe(bodySize, (c) => sink.write(c));
      await sink.end();
    } else {
      await r.pipe(bodySize, () => undefined);
    }
    await r.read(padding(bodySize).length);
  }
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readTar, TarCorruptError, tarHeader, padding, TAR_END, type TarEntry } from '../../../src/kgpu/transfer/tar-stream';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-tar-test-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A real archive from GNU tar (ustar headers, a GNU long name, a pax record for a non-ASCII name). */
function gnuTar(format: string): Buffer {
  const src = path.join(tmp, `src-${format}`);
  fs.mkdirSync(path.join(src, 'dir'), { recursive: true });
  fs.writeFileSync(path.join(src, 'dir', 'a.txt'), 'alpha\n');
  fs.writeFileSync(path.join(src, 'l'.repeat(120)), 'long\n');
  fs.writeFileSync(path.join(src, 'ü ✓.txt'), 'unicode\n');
  return execFileSync('tar', ['-c', `--format=${format}`, '-C', src, '.']);
}

async function* chunks(b: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function read(b: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  await readTar(chunks(b), async (e: TarEntry) => {
    if (e.type !== 'file') return undefined;
    const parts: Buffer[] = [];
    return { write: (c) => void parts.push(Buffer.from(c)), end: () => void files.set(e.path, Buffer.concat(parts).toString()) };
  });
  return files;
}

for (const format of ['gnu', 'pax']) {
  test(`a ${format} archive from GNU tar reads whole`, async () => {
    const files = await read(gnuTar(format));
    assert.equal(files.get('./dir/a.txt'), 'alpha\n');
    assert.equal(files.get(`./${'l'.repeat(120)}`), 'long\n');
    assert.equal(files.get('./ü ✓.txt'), 'unicode\n');
  });
}

test('our own writer round-trips (pax path record included) and GNU tar accepts it', async () => {
  const body = Buffer.from('payload\n');
  const archive = Buffer.concat([
    tarHeader({ path: 'ü/'.repeat(60) + 'f', size: body.length, mode: 0o644, mtime: 1 }),
    body,
    padding(body.length),
    TAR_END,
  ]);
  const files = await read(archive);
  assert.equal(files.get('ü/'.repeat(60) + 'f'), 'payload\n');
  assert.match(execFileSync('tar', ['-t'], { input: archive }).toString(), /f\n$/);
});

test('a corrupted header is refused with TarCorruptError instead of being misread', async () => {
  const good = gnuTar('gnu');
  // Flip one byte in every header field in turn (name, mode, size, type, magic): each must be caught.
  for (const at of [3, 101, 130, 156, 258]) {
    const bad = Buffer.from(good);
    bad[at] ^= 0x04;
    await assert.rejects(read(bad), TarCorruptError, `byte ${at}`);
  }
  // A size field corrupted in a later header (after a file body) is caught too, not silently
  // turned into a wrong file length.
  const second = good.indexOf(Buffer.from('./dir/a.txt'));
  assert.ok(second > 0);
  const bad = Buffer.from(good);
  bad[second + 124 + 9] = 0x37; // a digit of the size field
  await assert.rejects(read(bad), TarCorruptError);
});

test('garbage that is not a tar stream is refused', async () => {
  await assert.rejects(read(Buffer.concat([Buffer.from('bash: tar: command not found\n'), Buffer.alloc(600, 0x41)])), TarCorruptError);
});

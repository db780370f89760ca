import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { quote, quoteArgv } from '../../../../src/kgpu/util/shell-quote';

const HOSTILE: string[] = [
  'plain',
  '',
  ' ',
  'two words',
  "it's",
  '"double"',
  '$(touch /tmp/kgpu-pwned)',
  '`id`',
  '$HOME',
  'a\nb',
  '\n',
  '-rf',
  '--help',
  '*',
  '?',
  '[a]',
  '~',
  'a;b',
  'a|b',
  'a&b',
  '>out',
  '<in',
  '\\',
  "'",
  "''",
  '\t',
  'ünïcødé ✓',
  '!',
  '#comment',
  '{a,b}',
  '%s',
  "x'$(id)'y",
];

/** Run `sh -c <script> sh ...` locally and return what `printf %s "$1"` etc. printed. */
function sh(script: string | Buffer): Buffer {
  const r = spawnSync('sh', ['-c', script as string], { encoding: 'buffer' });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

test('quote: every hostile string survives sh -c printf byte for byte', () => {
  for (const s of HOSTILE) {
    assert.equal(sh(`printf %s ${quote(s)}`).toString('utf8'), s, `round trip of ${JSON.stringify(s)}`);
  }
});

test('quoteArgv: arguments stay separate (count and content) through sh', () => {
  const out = sh(`printf '%s\\0' ${quoteArgv(HOSTILE)}`);
  const parts = out.toString('utf8').split('\0');
  parts.pop();
  assert.deepEqual(parts, HOSTILE);
});

test('quote(Buffer): non-UTF-8 bytes round-trip', () => {
  const name = Buffer.from([0x66, 0xff, 0xfe, 0x27, 0x20, 0x80, 0x24, 0x28, 0x29]); // f\xff\xfe' \x80$()
  const script = Buffer.concat([Buffer.from('printf %s '), quote(name)]);
  // argv strings cannot carry invalid UTF-8, so run the command line from a file (byte-exact).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-quote-'));
  try {
    fs.writeFileSync(path.join(dir, 's.sh'), script);
    const out = spawnSync('sh', [path.join(dir, 's.sh')], { encoding: 'buffer' });
    assert.equal(out.status, 0);
    assert.deepEqual(out.stdout, name);
    const argv = quoteArgv(['printf', '%s|', name, 'x y']);
    assert.ok(Buffer.isBuffer(argv));
    fs.writeFileSync(path.join(dir, 'a.sh'), argv);
    const out2 = spawnSync('sh', [path.join(dir, 'a.sh')], { encoding: 'buffer' });
    assert.deepEqual(out2.stdout, Buffer.concat([name, Buffer.from('|x y|')]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('quote: command substitution is never executed', () => {
  const marker = `/tmp/kgpu-quote-${process.pid}`;
  sh(`printf %s ${quote(`$(touch ${marker})\`touch ${marker}\``)} >/dev/null`);
  assert.equal(spawnSync('test', ['-e', marker]).status, 1);
});

test('quote: plain words stay bare, NUL is refused', () => {
  assert.equal(quoteArgv(['ls', '-la', '/workspace/a.py']), 'ls -la /workspace/a.py');
  assert.equal(quote(''), "''");
  assert.throws(() => quoteArgv(['a\0b']), /NUL/);
  assert.throws(() => quoteArgv([]), /empty argv/);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pull, SyncError } from '../../../../src/kgpu/transfer/sync';
import { SshAbortedError } from '../../../../src/kgpu/ssh/ssh-errors';
import { quote } from '../../../../src/kgpu/util/shell-quote';
import { startJobsPod, type JobsPod } from '../jobs/jobs-fixture';

let pod: JobsPod;
let tmp: string;
before(async () => {
  pod = await startJobsPod();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-pull-test-'));
});
after(async () => {
  await pod?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function localTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out[r] = fs.readFileSync(path.join(d, e.name), 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

test('pull a folder with hostile names, nested dirs and modes; progress counts bytes and files', async () => {
  const names = ['two words', "it's", '$(touch pwned)', '`touch pwned2`', 'new\nline', '-rf', 'ü ✓', 'x'.repeat(150)];
  const script = names.map((n, i) => `printf 'file %s\\n' ${i} > ${quote(`out/${n}`)}`).join('; ');
  await pod.sh(
    `mkdir -p '/workspace/res/out/sub dir/$(x)' && cd /workspace/res && ${script} && echo deep > 'out/sub dir/$(x)/d.txt' && chmod 755 out/-rf && ln -s two\\ words out/link`,
  );
  const dest = path.join(tmp, 'pulled out');
  const progress: Array<[number, number, number | undefined]> = [];
  const r = await pull(pod.commands(), '/workspace/res/out', dest, { onProgress: (b, f, t) => progress.push([b, f, t]) });
  const expected: Record<string, string> = { 'sub dir/$(x)/d.txt': 'deep\n' };
  names.forEach((n, i) => (expected[n] = `file ${i}\n`));
  assert.deepEqual(localTree(dest), expected);
  assert.equal(r.files, names.length + 1);
  assert.equal(r.skippedSymlinks, 1);
  assert.equal(
    r.bytes,
    Object.values(expected).reduce((s, c) => s + c.length, 0),
  );
  assert.equal((fs.statSync(path.join(dest, '-rf')).mode & 0o777).toString(8), '755');
  assert.deepEqual(progress.at(-1)?.slice(0, 2), [r.bytes, r.files]);
  assert.ok((progress.at(-1)?.[2] ?? 0) > 0, 'the total size is known');
  assert.equal(fs.existsSync('pwned') || fs.existsSync(path.join(dest, 'pwned')), false);
  assert.equal(await pod.sh(`find /workspace -name 'pwned*' | wc -l`), '0\n');
});

test('pull a single file; a missing one says so', async () => {
  const data = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
  await pod.sh(`mkdir -p /workspace/ck && head -c ${data.length} /dev/zero | tr '\\0' '\\011' > '/workspace/ck/model -v1.pt'`);
  const dest = path.join(tmp, 'single', 'model.pt');
  const r = await pull(pod.commands(), '/workspace/ck/model -v1.pt', dest);
  assert.equal(r.files, 1);
  assert.equal(createHash('sha256').update(fs.readFileSync(dest)).digest('hex'), createHash('sha256').update(data).digest('hex'));
  await assert.rejects(
    pull(pod.commands(), '/workspace/ck/nope.pt', path.join(tmp, 'nope')),
    (e: Error) => e instanceof SyncError && /No such file or directory in the pod/.test(e.message),
  );
  assert.equal(fs.existsSync(path.join(tmp, 'nope')), false);
});

test('a cancelled pull leaves no partial file under the final name (and no temp file)', async () => {
  await pod.sh(
    `mkdir -p /workspace/bigdir && head -c 5 /dev/zero > /workspace/bigdir/a.txt && head -c 60000000 /dev/urandom > /workspace/bigdir/b.bin`,
  );
  const dest = path.join(tmp, 'cancelled');
  const ac = new AbortController();
  await assert.rejects(
    pull(pod.commands(), '/workspace/bigdir', dest, {
      signal: ac.signal,
      onProgress: (bytes) => {
        if (bytes > 2_000_000) ac.abort();
      },
    }),
    SshAbortedError,
  );
  // tar sends the folder in directory order: a.txt may or may not have come before b.bin
  const left = fs.existsSync(dest) ? fs.readdirSync(dest) : [];
  assert.ok(
    left.every((n) => n === 'a.txt'),
    `only complete files, no partial or temp file (found ${left.join(', ')})`,
  );
  if (left.includes('a.txt')) assert.equal(fs.statSync(path.join(dest, 'a.txt')).size, 5);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syncUp, type SyncUpOptions } from '../../../../src/kgpu/transfer/sync';
import { walkTree } from '../../../../src/kgpu/transfer/ignore-rules';
import { startJobsPod, type JobsPod } from '../jobs/jobs-fixture';

let pod: JobsPod;
let tmp: string;
before(async () => {
  pod = await startJobsPod();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-sync-test-'));
});
after(async () => {
  await pod?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function project(files: Record<string, string | Buffer>): { local: string; remote: string; state: string; hostRemote: string } {
  const id = `p${++n}`;
  const local = path.join(tmp, id, 'local');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
    fs.writeFileSync(path.join(local, rel), content);
  }
  return {
    local,
    remote: `/workspace/${id} proj`,
    state: path.join(tmp, id, 'state'),
    hostRemote: path.join(pod.fixture.hostDir, `${id} proj`),
  };
}

/** Every regular file under dir, relative, with content (the pod's side, read through SSH). */
async function podTree(remote: string): Promise<Map<string, string>> {
  const r = await pod
    .commands()
    .exec(
      `cd '${remote}' && find . -path ./.kgpu -prune -o -type f -print0 | xargs -0 -r sh -c 'for f; do printf "%s\\0" "$f"; base64 -w0 < "$f"; printf "\\0"; done' x`,
    );
  const parts = r.stdout.toString('utf8').split('\0');
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) m.set(parts[i].slice(2), Buffer.from(parts[i + 1], 'base64').toString('utf8'));
  return m;
}

test('first sync uploads the tree; a second sync of an unchanged tree transfers zero file bytes in one round trip', async () => {
  const files: Record<string, string> = { 'train.py': 'print("hi")\n', 'lib/model.py': 'x = 1\n', 'data/a.csv': '1,2\n'.repeat(1000) };
  const p = project(files);
  const opts: SyncUpOptions = { stateDir: p.state };
  const first = await syncUp(pod.commands(), p.local, p.remote, opts);
  assert.equal(first.uploadedFiles, 3);
  assert.equal(
    first.uploadedBytes,
    Object.values(files).reduce((s, c) => s + Buffer.byteLength(c), 0),
  );
  assert.deepEqual(Object.fromEntries(await podTree(p.remote)), files);
  // What it changed in the pod (for the kgpu: file system): the folder, the new folders, the new files.
  assert.deepEqual(first.changes.map((c) => `${c.type} ${c.path.slice(p.remote.length)}`).sort(), [
    'changed ',
    'changed /data',
    'changed /lib',
    'created /data/a.csv',
    'created /lib/model.py',
    'created /train.py',
  ]);

  const second = await syncUp(pod.commands(), p.local, p.remote, opts);
  assert.deepEqual(
    { ...second, durationMs: 0, wireBytes: 0 },
    {
      uploadedFiles: 0,
      uploadedBytes: 0,
      skippedFiles: 3,
      deletedFiles: 0,
      durationMs: 0,
      wireBytes: 0,
      roundTrips: 1,
      skippedLinks: [],
      changes: [],
    },
  );

  // Without the local cache (another machine, a cleared storage) nothing is sent either: the pod's manifest matches.
  const third = await syncUp(pod.commands(), p.local, p.remote, {});
  assert.equal(third.uploadedBytes, 0);
});

test('a one-line edit uploads only that file, and few bytes go over the wire', async () => {
  const big = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const files: Record<string, string | Buffer> = {
    'weights.bin': big,
    'train.py': Array.from({ length: 200 }, (_, i) => `print(${i})`).join('\n') + '\n',
  };
  for (let i = 0; i < 20; i++) files[`pkg/mod${i}.py`] = `def f${i}():\n    return ${i}\n`.repeat(50);
  const p = project(files);
  const opts: SyncUpOptions = { stateDir: p.state };
  await syncUp(pod.commands(), p.local, p.remote, opts);

  const file = path.join(p.local, 'train.py');
  const edited = fs.readFileSync(file, 'utf8').replace('print(100)', 'print("one hundred")');
  fs.writeFileSync(file, edited);
  const r = await syncUp(pod.commands(), p.local, p.remote, opts);
  assert.equal(r.uploadedFiles, 1);
  assert.equal(r.uploadedBytes, Buffer.byteLength(edited));
  assert.equal(r.skippedFiles, 21);
  assert.equal(r.roundTrips, 1, 'sent and verified in one exec');
  assert.ok(r.wireBytes <= 2 * Buffer.byteLength(edited), `wire bytes ${r.wireBytes} ≤ 2 × ${Buffer.byteLength(edited)}`);
  assert.equal((await podTree(p.remote)).get('train.py'), edited);
  console.log(
    `# one-line edit in a ${(Object.values(files).reduce((s, c) => s + c.length, 0) / 1e6).toFixed(1)} MB tree: ${r.uploadedBytes} file bytes, ${r.wireBytes} wire bytes, ${r.durationMs} ms`,
  );

  // touching a file without changing it uploads nothing
  const t = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(p.local, 'pkg/mod3.py'), t, t);
  assert.equal((await syncUp(pod.commands(), p.local, p.remote, opts)).uploadedFiles, 0);
});

test("the pod's copy is verified: a file changed or deleted in the pod, or a fresh pod folder, is uploaded again", async () => {
  const p = project({ 'a.txt': 'A\n', 'b.txt': 'B\n', 'c.txt': 'C\n' });
  const opts: SyncUpOptions = { stateDir: p.state };
  await syncUp(pod.commands(), p.local, p.remote, opts);
  await pod.sh(`cd '${p.remote}' && echo changed-in-pod > a.txt && rm b.txt`);
  const r = await syncUp(pod.commands(), p.local, p.remote, opts);
  assert.equal(r.uploadedFiles, 2);
  assert.deepEqual(Object.fromEntries(await podTree(p.remote)), { 'a.txt': 'A\n', 'b.txt': 'B\n', 'c.txt': 'C\n' });
  // a local edit while the pod's copy of another file changed: the fast path notices and falls back
  fs.writeFileSync(path.join(p.local, 'c.txt'), 'C2\n');
  await pod.sh(`cd '${p.remote}' && echo bad > b.txt`);
  const mixed = await syncUp(pod.commands(), p.local, p.remote, opts);
  assert.equal(mixed.uploadedFiles, 2);
  assert.equal(mixed.roundTrips, 3);
  assert.deepEqual(Object.fromEntries(await podTree(p.remote)), { 'a.txt': 'A\n', 'b.txt': 'B\n', 'c.txt': 'C2\n' });
  // a new pod (the folder and its manifest gone), same local state, with an edit
  await pod.sh(`rm -rf '${p.remote}'`);
  fs.writeFileSync(path.join(p.local, 'c.txt'), 'C3\n');
  assert.equal((await syncUp(pod.commands(), p.local, p.remote, opts)).uploadedFiles, 3);
  assert.deepEqual(Object.fromEntries(await podTree(p.remote)), { 'a.txt': 'A\n', 'b.txt': 'B\n', 'c.txt': 'C3\n' });
  assert.equal((await syncUp(pod.commands(), p.local, p.remote, opts)).uploadedFiles, 0);
});

test('deletes nothing in the pod unless asked; with deleteRemoved only files it uploaded and the user deleted', async () => {
  const p = project({ 'keep.py': 'k\n', 'gone.py': 'g\n' });
  const opts: SyncUpOptions = { stateDir: p.state };
  await syncUp(pod.commands(), p.local, p.remote, opts);
  await pod.sh(`cd '${p.remote}' && mkdir -p out && echo result > out/model.pt`);
  fs.unlinkSync(path.join(p.local, 'gone.py'));
  const r1 = await syncUp(pod.commands(), p.local, p.remote, opts);
  assert.equal(r1.deletedFiles, 0);
  assert.ok((await podTree(p.remote)).has('gone.py'), 'default: no deletion');
  const r2 = await syncUp(pod.commands(), p.local, p.remote, { ...opts, deleteRemoved: true });
  assert.equal(r2.deletedFiles, 1);
  const tree = await podTree(p.remote);
  assert.deepEqual([...tree.keys()].sort(), ['keep.py', 'out/model.pt'], 'outputs made in the pod are never deleted');
  assert.equal((await syncUp(pod.commands(), p.local, p.remote, { ...opts, deleteRemoved: true })).deletedFiles, 0);
});

test('.gitignore files (nested, with negation) and exclude patterns are honoured; .git is never synced', async () => {
  const p = project({
    '.gitignore': '*.log\n/outputs/\n__pycache__/\n',
    'train.py': 't\n',
    'run.log': 'no\n',
    'outputs/ckpt.pt': 'no\n',
    'src/__pycache__/m.pyc': 'no\n',
    'src/.gitignore': '!keep.log\nlocal_only.py\n',
    'src/keep.log': 'yes\n',
    'src/local_only.py': 'no\n',
    'src/m.py': 'yes\n',
    'data/big/x.npy': 'excluded\n',
    'secrets.env': 'excluded\n',
    '.git/HEAD': 'ref\n',
  });
  const expected = ['.gitignore', 'src/.gitignore', 'src/keep.log', 'src/m.py', 'train.py'];
  const local = (await walkTree(p.local, { exclude: ['data/', '*.env'] })).map((f) => f.rel);
  assert.deepEqual(local, expected);
  await syncUp(pod.commands(), p.local, p.remote, { exclude: ['data/', '*.env'], stateDir: p.state });
  assert.deepEqual([...(await podTree(p.remote)).keys()].sort(), expected);
});

test('hostile file names survive sync and are never run as shell', async () => {
  const names = [
    'two words.py',
    "it's.py",
    '"dq".txt',
    '$(touch pwned).txt',
    '`touch pwned2`.txt',
    'new\nline.txt',
    '-rf',
    '--help',
    'ü ✓.txt',
    ';ls|&>.txt',
    'x'.repeat(140) + '.txt',
    'dir with space/$(id)/-n',
  ];
  const files: Record<string, string> = {};
  for (const name of names) files[name] = `content of ${JSON.stringify(name)}\n`;
  const p = project(files);
  const r = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  assert.equal(r.uploadedFiles, names.length);
  assert.deepEqual(Object.fromEntries(await podTree(p.remote)), files);
  assert.equal(await pod.sh(`find /workspace -name 'pwned*' | wc -l`), '0\n');
  // and they are skipped the second time (the manifest and stat handle those names)
  assert.equal((await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state })).uploadedFiles, 0);
  fs.appendFileSync(path.join(p.local, 'new\nline.txt'), 'more\n');
  assert.equal((await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state, deleteRemoved: true })).uploadedFiles, 1);
});

test('no half-written file under a target name: a sync cancelled mid-stream leaves the old content', async () => {
  const p = project({ 'big.bin': Buffer.alloc(40 * 1024 * 1024, 1), 'small.txt': 'old\n' });
  await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  fs.writeFileSync(path.join(p.local, 'big.bin'), Buffer.alloc(40 * 1024 * 1024, 2));
  fs.writeFileSync(path.join(p.local, 'small.txt'), 'new\n');
  const ac = new AbortController();
  await assert.rejects(
    syncUp(pod.commands(), p.local, p.remote, {
      stateDir: p.state,
      signal: ac.signal,
      onProgress: (pr) => {
        if (pr.phase === 'uploading' && pr.bytes > 4 * 1024 * 1024) ac.abort();
      },
    }),
  );
  const sum = await pod.sh(`cd '${p.remote}' && od -An -tx1 -N1 -j 20000000 big.bin && cat small.txt && ls -a | wc -l`);
  assert.equal(sum, ' 01\nold\n5\n', 'both files still hold the previous version; no temp files next to them');
  const again = await syncUp(pod.commands(), p.local, p.remote, { stateDir: p.state });
  assert.equal(again.uploadedFiles, 2);
  assert.equal(await pod.sh(`cd '${p.remote}' && od -An -tx1 -N1 -j 20000000 big.bin && cat small.txt`), ' 02\nnew\n');
});

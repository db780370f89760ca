/**
 * The pod file system (WorkspaceFs) against the simulator: the FileSystemProvider contract's
 * create/overwrite rules, rename/copy/delete, symlinks and permissions, hostile names, mtime/size
 * on every write, and VS Code's probes answered from the cached listing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { WorkspaceFsError, FileKind, type WorkspaceFs, type PathChange } from '../../../../src/kgpu/fs/workspace-fs';
import { exec } from '../../../../src/kgpu/ssh/ssh-exec';
import { startWsFixture, type WsFixture } from './workspace-fs-fixture';

let f: WsFixture;
let wfs: WorkspaceFs;
before(async () => {
  f = await startWsFixture();
  wfs = f.fs();
});
after(() => f?.stop());

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const kind =
  (k: WorkspaceFsError['kind']) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof WorkspaceFsError, `expected a WorkspaceFsError, got ${String(e)}`);
    assert.equal(e.kind, k, e.message);
    assert.ok(e.message.includes(f.podId), `the message names the pod: ${e.message}`);
    return true;
  };

test('writeFile: the create/overwrite matrix of vscode.FileSystemProvider', async () => {
  fs.mkdirSync(f.host('/workspace/m'));
  const p = '/workspace/m/a.txt';
  // missing file
  await assert.rejects(wfs.writeFile(p, enc('x'), { create: false, overwrite: false }), kind('NotFound'));
  await assert.rejects(wfs.writeFile(p, enc('x'), { create: false, overwrite: true }), kind('NotFound'));
  assert.equal(fs.existsSync(f.host(p)), false);
  await wfs.writeFile(p, enc('one'), { create: true, overwrite: false });
  assert.equal(fs.readFileSync(f.host(p), 'utf8'), 'one');
  // existing file
  await assert.rejects(wfs.writeFile(p, enc('two'), { create: true, overwrite: false }), kind('Exists'));
  assert.equal(fs.readFileSync(f.host(p), 'utf8'), 'one');
  await wfs.writeFile(p, enc('three'), { create: false, overwrite: true });
  assert.equal(fs.readFileSync(f.host(p), 'utf8'), 'three');
  await wfs.writeFile(p, enc('four'), { create: true, overwrite: true });
  assert.equal(fs.readFileSync(f.host(p), 'utf8'), 'four');
  // parent missing, target is a folder
  await assert.rejects(wfs.writeFile('/workspace/m/nope/b.txt', enc('x'), { create: true, overwrite: true }), kind('NotFound'));
  fs.mkdirSync(f.host('/workspace/m/dir'));
  await assert.rejects(wfs.writeFile('/workspace/m/dir', enc('x'), { create: true, overwrite: true }), kind('IsADirectory'));
  await assert.rejects(wfs.writeFile('/workspace/m/dir', enc('x'), { create: false, overwrite: true }), kind('IsADirectory'));
  assert.ok(fs.statSync(f.host('/workspace/m/dir')).isDirectory());
  assert.deepEqual(fs.readdirSync(f.host('/workspace/m')).sort(), ['a.txt', 'dir'], 'no temp files left behind');
});

test('stat and readDirectory: types, symlinks followed and flagged, sizes, read-only by mode', async () => {
  fs.mkdirSync(f.host('/workspace/s/sub'), { recursive: true });
  fs.writeFileSync(f.host('/workspace/s/f.txt'), 'hello');
  fs.symlinkSync('f.txt', f.host('/workspace/s/link'));
  fs.symlinkSync('sub', f.host('/workspace/s/dirlink'));
  fs.symlinkSync('missing', f.host('/workspace/s/dangling'));
  fs.writeFileSync(f.host('/workspace/s/ro.txt'), 'r');
  fs.chmodSync(f.host('/workspace/s/ro.txt'), 0o444);
  const entries = new Map(await wfs.readDirectory('/workspace/s'));
  assert.deepEqual(Object.fromEntries(entries), {
    sub: FileKind.Directory,
    'f.txt': FileKind.File,
    link: FileKind.File | FileKind.SymbolicLink,
    dirlink: FileKind.Directory | FileKind.SymbolicLink,
    dangling: FileKind.SymbolicLink,
    'ro.txt': FileKind.File,
  });
  const st = await wfs.stat('/workspace/s/link');
  assert.equal(st.type, FileKind.File | FileKind.SymbolicLink);
  assert.equal(st.size, 5);
  assert.ok(Math.abs(st.mtime - fs.statSync(f.host('/workspace/s/f.txt')).mtimeMs) < 1000, 'mtime in ms');
  assert.equal(st.readonly, false);
  assert.equal((await wfs.stat('/workspace/s/ro.txt')).readonly, true);
  assert.equal((await wfs.stat('/workspace/s/sub')).type, FileKind.Directory);
  await assert.rejects(wfs.stat('/workspace/s/none'), kind('NotFound'));
  await assert.rejects(wfs.readDirectory('/workspace/s/f.txt'), kind('NotADirectory'));
  await assert.rejects(wfs.readDirectory('/workspace/s/none'), kind('NotFound'));
  await assert.rejects(wfs.readFile('/workspace/s/sub'), kind('IsADirectory'));
  assert.equal(dec(await wfs.readFile('/workspace/s/link')), 'hello');
});

test('every write advances mtime and updates size, even within one second; own writes are announced', async () => {
  const seen: PathChange[] = [];
  const sub = wfs.onDidChange((c) => seen.push(...c));
  const p = '/workspace/mt.txt';
  await wfs.writeFile(p, enc('a'), { create: true, overwrite: true });
  let prev = await wfs.stat(p);
  assert.equal(prev.size, 1);
  for (let i = 2; i <= 6; i++) {
    await wfs.writeFile(p, enc('b'.repeat(i % 2 === 0 ? 1 : 3)), { create: true, overwrite: true });
    const st = await wfs.stat(p);
    assert.ok(st.mtime > prev.mtime, `write ${i}: mtime ${st.mtime} > ${prev.mtime}`);
    assert.equal(st.size, i % 2 === 0 ? 1 : 3);
    prev = st;
  }
  sub.dispose();
  assert.deepEqual(seen[0], { type: 'created', path: p });
  assert.ok(seen.slice(1).every((c) => c.type === 'changed' && c.path === p) && seen.length === 6, JSON.stringify(seen));
});

test('createDirectory, delete (recursive and not), rename over existing, copy inside the pod', async () => {
  await wfs.createDirectory('/workspace/d');
  assert.ok(fs.statSync(f.host('/workspace/d')).isDirectory());
  await assert.rejects(wfs.createDirectory('/workspace/d'), kind('Exists'));
  await assert.rejects(wfs.createDirectory('/workspace/nope/d'), kind('NotFound'));
  fs.mkdirSync(f.host('/workspace/d/a/b/c'), { recursive: true });
  fs.writeFileSync(f.host('/workspace/d/a/b/c/x.bin'), 'x');
  await assert.rejects(wfs.delete('/workspace/d/a', { recursive: false }), (e: unknown) => e instanceof WorkspaceFsError);
  assert.ok(fs.existsSync(f.host('/workspace/d/a/b/c/x.bin')));
  await wfs.delete('/workspace/d/a', { recursive: true });
  assert.equal(fs.existsSync(f.host('/workspace/d/a')), false);
  await assert.rejects(wfs.delete('/workspace/d/a', { recursive: true }), kind('NotFound'));
  await wfs.createDirectory('/workspace/d/empty');
  await wfs.delete('/workspace/d/empty', { recursive: false });
  assert.equal(fs.existsSync(f.host('/workspace/d/empty')), false);

  // rename
  fs.writeFileSync(f.host('/workspace/d/a.txt'), 'A');
  fs.writeFileSync(f.host('/workspace/d/b.txt'), 'B');
  fs.chmodSync(f.host('/workspace/d/a.txt'), 0o600);
  await assert.rejects(wfs.rename('/workspace/d/a.txt', '/workspace/d/b.txt', { overwrite: false }), kind('Exists'));
  assert.equal(fs.readFileSync(f.host('/workspace/d/b.txt'), 'utf8'), 'B');
  await wfs.rename('/workspace/d/a.txt', '/workspace/d/b.txt', { overwrite: true });
  assert.equal(fs.readFileSync(f.host('/workspace/d/b.txt'), 'utf8'), 'A');
  assert.equal(fs.statSync(f.host('/workspace/d/b.txt')).mode & 0o777, 0o600);
  assert.equal(fs.existsSync(f.host('/workspace/d/a.txt')), false);
  await assert.rejects(wfs.rename('/workspace/d/a.txt', '/workspace/d/c.txt', { overwrite: true }), kind('NotFound'));
  await assert.rejects(wfs.rename('/workspace/d/b.txt', '/workspace/d/no/c.txt', { overwrite: true }), kind('NotFound'));
  // a folder over a folder
  fs.mkdirSync(f.host('/workspace/d/src/inner'), { recursive: true });
  fs.writeFileSync(f.host('/workspace/d/src/inner/k'), 'k');
  fs.mkdirSync(f.host('/workspace/d/dst'));
  fs.writeFileSync(f.host('/workspace/d/dst/old'), 'o');
  await assert.rejects(wfs.rename('/workspace/d/src', '/workspace/d/dst', { overwrite: false }), kind('Exists'));
  await wfs.rename('/workspace/d/src', '/workspace/d/dst', { overwrite: true });
  assert.deepEqual(fs.readdirSync(f.host('/workspace/d/dst')), ['inner']);
  // the cache follows our own changes at once
  assert.deepEqual((await wfs.readDirectory('/workspace/d')).map(([n]) => n).sort(), ['b.txt', 'dst']);

  // copy is done in the pod: cp -a keeps modes and symlinks
  fs.symlinkSync('k', f.host('/workspace/d/dst/inner/klink'));
  fs.chmodSync(f.host('/workspace/d/dst/inner/k'), 0o751);
  await wfs.copy('/workspace/d/dst', '/workspace/d/copy', { overwrite: false });
  assert.equal(fs.readFileSync(f.host('/workspace/d/copy/inner/k'), 'utf8'), 'k');
  assert.equal(fs.statSync(f.host('/workspace/d/copy/inner/k')).mode & 0o777, 0o751);
  assert.equal(fs.readlinkSync(f.host('/workspace/d/copy/inner/klink')), 'k');
  await assert.rejects(wfs.copy('/workspace/d/dst', '/workspace/d/copy', { overwrite: false }), kind('Exists'));
  fs.writeFileSync(f.host('/workspace/d/copy/stale'), 's');
  await wfs.copy('/workspace/d/dst', '/workspace/d/copy', { overwrite: true });
  assert.deepEqual(fs.readdirSync(f.host('/workspace/d/copy')), ['inner'], 'overwrite replaces the folder');
  await wfs.copy('/workspace/d/b.txt', '/workspace/d/b2.txt', { overwrite: false });
  assert.equal(fs.readFileSync(f.host('/workspace/d/b2.txt'), 'utf8'), 'A');
  await assert.rejects(wfs.copy('/workspace/d/none', '/workspace/d/x', { overwrite: true }), kind('NotFound'));
  assert.deepEqual(fs.readdirSync(f.host('/workspace/d')).sort(), ['b.txt', 'b2.txt', 'copy', 'dst'], 'no temp files left behind');
});

test('hostile names survive write, stat, list, read, rename, copy and delete, and never run as shell', async () => {
  fs.mkdirSync(f.host('/workspace/h'));
  const names = [
    'with space.txt',
    "it's.txt",
    'dq"uote.txt',
    '$(touch pwned1).txt',
    '`touch pwned2`.txt',
    'new\nline.txt',
    '-rf',
    '--',
    '-n',
    'semi;touch pwned3',
    'ünï©ødé ✓.py',
    '*',
    'back\\slash',
  ];
  for (const n of names) {
    const p = `/workspace/h/${n}`;
    await wfs.writeFile(p, enc(`content of ${n}`), { create: true, overwrite: false });
    assert.equal(fs.readFileSync(f.host(p), 'utf8'), `content of ${n}`, JSON.stringify(n));
    assert.equal((await wfs.stat(p)).type, FileKind.File);
    assert.equal(dec(await wfs.readFile(p)), `content of ${n}`);
    await wfs.copy(p, `${p}.copy`, { overwrite: false });
    await wfs.rename(`${p}.copy`, `${p}.moved`, { overwrite: false });
    assert.equal(fs.readFileSync(f.host(`${p}.moved`), 'utf8'), `content of ${n}`);
  }
  const listed = (await wfs.readDirectory('/workspace/h')).map(([n]) => n).sort();
  assert.deepEqual(listed, [...names, ...names.map((n) => `${n}.moved`)].sort());
  const dir = '/workspace/h/$(touch pwned4) dir';
  await wfs.createDirectory(dir);
  await wfs.writeFile(`${dir}/-x`, enc('x'), { create: true, overwrite: true });
  await wfs.copy(dir, `${dir} copy`, { overwrite: false });
  await wfs.delete(dir, { recursive: true });
  await wfs.delete(`${dir} copy`, { recursive: true });
  for (const n of names) await wfs.delete(`/workspace/h/${n}.moved`, { recursive: false });
  assert.deepEqual(fs.readdirSync(f.host('/workspace/h')).sort(), [...names].sort());
  const r = await exec(f.connector, 'ls -A / /tmp /workspace /workspace/h ~ 2>/dev/null | grep -cx "pwned[0-9]" || true');
  assert.equal(r.stdout.toString().trim(), '0', 'no command in a name was executed');
  assert.ok(!fs.readdirSync(f.hostDir).some((n) => /^pwned\d$/.test(n)));
});

test("VS Code's probes are answered from the parent's cached listing, without a round trip", async () => {
  const cached = f.fs({ cacheTtlMs: 60_000 });
  fs.mkdirSync(f.host('/workspace/p'));
  fs.writeFileSync(f.host('/workspace/p/pyproject.toml'), '[project]\n');
  // The first probe lists the parent once; the rest are answered from that listing.
  assert.equal((await cached.stat('/workspace/p/pyproject.toml')).type, FileKind.File);
  // Changes made behind our back are invisible while the listing is fresh: proof no request went out.
  fs.mkdirSync(f.host('/workspace/p/.vscode'));
  fs.writeFileSync(f.host('/workspace/p/.vscode/settings.json'), '{}');
  fs.mkdirSync(f.host('/workspace/p/.git'));
  for (const probe of [
    '.vscode',
    '.vscode/settings.json',
    '.vscode/tasks.json',
    '.git',
    '.git/HEAD',
    'node_modules',
    'node_modules/x/package.json',
  ]) {
    await assert.rejects(cached.stat(`/workspace/p/${probe}`), kind('NotFound'), probe);
  }
  // Our own writes update the cache at once.
  await cached.writeFile('/workspace/p/requirements.txt', enc('torch\n'), { create: true, overwrite: false });
  assert.equal((await cached.stat('/workspace/p/requirements.txt')).size, 6);
  assert.ok((await cached.readDirectory('/workspace/p')).some(([n]) => n === 'requirements.txt'));
  // An uncached instance sees the truth.
  assert.equal((await wfs.stat('/workspace/p/.vscode/settings.json')).type, FileKind.File);
});

test('readFile refuses files above the editor limit with a clear message', async () => {
  const small = f.fs({ maxFileBytes: () => 1024 });
  fs.writeFileSync(f.host('/workspace/big.bin'), Buffer.alloc(4096));
  await assert.rejects(small.readFile('/workspace/big.bin'), (e: unknown) => {
    assert.ok(e instanceof WorkspaceFsError && e.kind === 'TooLarge');
    assert.match(e.message, /kgpu\.maxEditorFileSizeMB/);
    assert.match(e.message, /Download/);
    return true;
  });
});

/** The pod file system's cache and event merging (pure logic; the simulator tests cover the rest). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkspaceFsCache } from '../../../../src/kgpu/fs/workspace-fs-cache';
import { ChangeCoalescer, type PathChange } from '../../../../src/kgpu/util/change-coalescer';
import type { RemoteStat } from '../../../../src/kgpu/fs/remote-fs';

const st = (type: RemoteStat['type'], size = 1): RemoteStat => ({
  type,
  isSymbolicLink: false,
  size,
  mode: 0o644,
  mtimeMs: 1000,
  atimeMs: 1000,
  uid: 0,
  gid: 0,
});

test('cache: listings answer children and probes below missing or file ancestors; entries expire unless frozen', () => {
  let now = 0;
  const c = new WorkspaceFsCache({ ttlMs: 100, now: () => now });
  c.putListing('/workspace', [
    ['src', st('directory')],
    ['README.md', st('file', 5)],
  ]);
  assert.equal(c.stat('/workspace/README.md')?.size, 5);
  assert.equal(c.stat('/workspace/.vscode'), null);
  assert.equal(c.stat('/workspace/.vscode/settings.json'), null, 'missing ancestor');
  assert.equal(c.stat('/workspace/README.md/x'), null, 'a file where a folder would be');
  assert.equal(c.stat('/workspace/src/main.py'), undefined, 'unknown below a listed folder');
  c.putStat('/workspace/new.txt', st('file', 3));
  assert.equal(c.listing('/workspace')?.get('new.txt')?.size, 3, 'own writes update the parent listing');
  c.putStat('/workspace/README.md', null);
  assert.equal(c.listing('/workspace')?.has('README.md'), false);
  now = 150;
  assert.equal(c.stat('/workspace/new.txt'), undefined, 'expired');
  c.frozen = true;
  assert.equal(c.stat('/workspace/new.txt')?.size, 3, 'kept after the pod ended');
  c.frozen = false;
  now = 0;
  c.invalidateTree('/workspace');
  assert.equal(c.listing('/workspace'), undefined);
  assert.equal(c.stat('/workspace/new.txt'), undefined);
});

test('cache: contents are bounded and only served while size and mtime match', () => {
  const c = new WorkspaceFsCache({ ttlMs: 100, maxContentBytes: 10, maxContentFileBytes: 6 });
  c.putContent('/a', Buffer.from('123456'), st('file', 6));
  assert.equal(c.content('/a', st('file', 6))?.length, 6);
  assert.equal(c.content('/a', st('file', 7)), undefined);
  c.putContent('/b', Buffer.from('1234567'), st('file', 7));
  assert.equal(c.content('/b'), undefined, 'too big to keep');
  c.putContent('/c', Buffer.from('12345'), st('file', 5));
  assert.equal(c.content('/a'), undefined, 'oldest dropped over budget');
  assert.equal(c.content('/c')?.length, 5);
});

test('coalescer merges per path like VS Code: created+deleted cancel, deleted+created is a change', async () => {
  const out: PathChange[][] = [];
  const co = new ChangeCoalescer(5, (c) => out.push(c));
  co.push([
    { type: 'created', path: '/a' },
    { type: 'changed', path: '/a' },
    { type: 'created', path: '/b' },
    { type: 'deleted', path: '/b' },
    { type: 'deleted', path: '/c' },
    { type: 'created', path: '/c' },
    { type: 'changed', path: '/d' },
    { type: 'deleted', path: '/d' },
  ]);
  co.flush();
  assert.deepEqual(out, [
    [
      { type: 'created', path: '/a' },
      { type: 'changed', path: '/c' },
      { type: 'deleted', path: '/d' },
    ],
  ]);
  co.dispose();
});

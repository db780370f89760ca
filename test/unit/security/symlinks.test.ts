/**
 * Security finding 2: Sync (Run Active File) and Upload… never follow a symlink out of the folder.
 * A repository with `data/labels.txt -> ../../secret` shipped the user's file into the pod, and a
 * symlink loop made Upload… fail with ELOOP. Now: links whose real path leaves the folder are
 * never uploaded (listed, with their names), links inside the folder are recreated as links in the
 * pod (so nothing is uploaded twice and an excluded file is not sent through a link to it), and
 * loops and dangling links are skipped — never fatal.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { uploadToPod } from '../../../src/kgpu/transfer/pod-upload';
import { describeSkippedLinks } from '../../../src/kgpu/transfer/local-links';
import { syncUp } from '../../../src/kgpu/transfer/sync';
import { startFleet, type FleetPod } from '../reliability/fleet-fixture';

const SECRET = `TOP-SECRET-${randomBytes(8).toString('hex')}`;

/** home/secret, home/.ssh/id_ed25519, home/elsewhere/creds.txt — and home/work/proj, the folder. */
function layout(base: string): { proj: string; secretFile: string } {
  const home = path.join(base, 'home');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
  fs.mkdirSync(path.join(home, 'elsewhere'), { recursive: true });
  fs.writeFileSync(path.join(home, 'secret'), `${SECRET} file\n`);
  fs.writeFileSync(path.join(home, '.ssh', 'id_ed25519'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRET} key\n`);
  fs.writeFileSync(path.join(home, 'elsewhere', 'creds.txt'), `${SECRET} creds\n`);
  const proj = path.join(home, 'work', 'proj');
  const w = (rel: string, content: string): void => {
    fs.mkdirSync(path.dirname(path.join(proj, rel)), { recursive: true });
    fs.writeFileSync(path.join(proj, rel), content);
  };
  w('train.py', 'print("train")\n');
  w('data/real.csv', 'a,b\n1,2\n');
  w('models/m.bin', 'weights\n');
  w('.env', 'TOKEN=only-in-dot-env\n');
  const link = (rel: string, target: string): void => {
    fs.mkdirSync(path.dirname(path.join(proj, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(proj, rel));
  };
  link('data/labels.txt', '../../../secret'); // leaves the folder (a file)
  link('data/key', '../../../.ssh/id_ed25519'); // leaves the folder (a private key)
  link('data/elsewhere', '../../../elsewhere'); // leaves the folder (a directory)
  link('data/abs', path.join(home, 'secret')); // leaves the folder (absolute)
  link('data/alias.csv', 'real.csv'); // inside
  link('data/latest', '../models'); // inside (a directory)
  link('data/abs-inside.csv', path.join(proj, 'data', 'real.csv')); // inside, but absolute
  link('self', '.'); // inside: the folder itself (followed, a walk would never end)
  link('env-link', '.env'); // inside, to an excluded file: its content must not travel through the link
  link('loop-a', 'loop-b'); // a loop
  link('loop-b', 'loop-a');
  link('dangling', 'nowhere.txt');
  return { proj, secretFile: path.join(home, 'secret') };
}

async function assertNoSecretIn(pod: FleetPod, where: string): Promise<void> {
  // -L: follow links in the pod too — nothing reachable from the synced folder holds the secret.
  const hits = await pod.sh(`grep -Rl -- '${SECRET}' ${where} 2>/dev/null; true`);
  assert.equal(hits, '', `the secret reached the pod: ${hits}`);
}

async function podLinks(pod: FleetPod, dir: string): Promise<Record<string, string>> {
  const out = await pod.sh(`cd '${dir}' && find . -path ./.kgpu -prune -o -type l -printf '%P\\t%l\\n'`);
  return Object.fromEntries(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]),
  );
}

const EXPECTED_LINKS = {
  'data/alias.csv': 'real.csv',
  'data/latest': '../models',
  'data/abs-inside.csv': 'real.csv',
  self: '.',
  'env-link': '.env',
};
const EXPECTED_SKIPPED = [
  { rel: 'dangling', reason: 'dangling' },
  { rel: 'data/abs', reason: 'outside' },
  { rel: 'data/elsewhere', reason: 'outside' },
  { rel: 'data/key', reason: 'outside' },
  { rel: 'data/labels.txt', reason: 'outside' },
  { rel: 'loop-a', reason: 'loop' },
  { rel: 'loop-b', reason: 'loop' },
];

test('sync: symlinks out of the folder are never uploaded (listed once, by name), links inside are recreated as links, loops are skipped', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const { proj } = layout(f.tmp('sync'));
  const state = f.tmp('state');

  const r = await syncUp(pod.commands(), proj, '/workspace/proj', { exclude: ['.env'], stateDir: state });
  await assertNoSecretIn(pod, '/workspace');
  assert.deepEqual(
    [...r.skippedLinks].sort((a, b) => (a.rel < b.rel ? -1 : 1)),
    EXPECTED_SKIPPED,
  );
  assert.equal(
    await pod.sh(`test -e /workspace/proj/data/labels.txt || test -L /workspace/proj/data/labels.txt && echo there || echo absent`),
    'absent\n',
  );
  assert.deepEqual(await podLinks(pod, '/workspace/proj'), EXPECTED_LINKS);
  assert.equal(await pod.sh('cat /workspace/proj/data/alias.csv /workspace/proj/data/latest/m.bin'), 'a,b\n1,2\nweights\n');
  assert.equal(
    await pod.sh('test -e /workspace/proj/.env && echo there || echo absent'),
    'absent\n',
    '.env excluded, also through env-link',
  );

  // The summary line names them.
  const text = describeSkippedLinks(r.skippedLinks);
  assert.match(
    text,
    /not uploaded: 4 symlinks that lead outside the folder \(data\/abs, data\/elsewhere, data\/key, data\/labels\.txt\); 2 symlink loops \(loop-a, loop-b\); 1 dangling symlink \(dangling\)/,
  );

  // A second sync sends nothing (the recreated links match), a third after retargeting one sends it.
  const again = await syncUp(pod.commands(), proj, '/workspace/proj', { exclude: ['.env'], stateDir: state });
  assert.equal(again.uploadedFiles, 0);
  fs.unlinkSync(path.join(proj, 'data', 'alias.csv'));
  fs.symlinkSync('../train.py', path.join(proj, 'data', 'alias.csv'));
  const third = await syncUp(pod.commands(), proj, '/workspace/proj', { exclude: ['.env'], stateDir: state });
  assert.equal(third.uploadedFiles, 1);
  assert.equal((await podLinks(pod, '/workspace/proj'))['data/alias.csv'], '../train.py');

  // A link that used to point inside and now points out is not followed either.
  fs.unlinkSync(path.join(proj, 'data', 'alias.csv'));
  fs.symlinkSync('../../../secret', path.join(proj, 'data', 'alias.csv'));
  const fourth = await syncUp(pod.commands(), proj, '/workspace/proj', { exclude: ['.env'], stateDir: state });
  assert.ok(fourth.skippedLinks.some((s) => s.rel === 'data/alias.csv' && s.reason === 'outside'));
  await assertNoSecretIn(pod, '/workspace');
});

test('Upload…: the same rules for a chosen folder — no ELOOP, nothing from outside, links inside recreated', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const { proj } = layout(f.tmp('upload'));
  const wfs = pod.fs();
  const { rfs, connector } = await wfs.connection();

  const r = await uploadToPod([proj], '/workspace/up', { connector, rfs });
  assert.deepEqual(
    [...r.skipped].sort((a, b) => (a.rel < b.rel ? -1 : 1)),
    EXPECTED_SKIPPED.map((s) => ({ ...s, rel: `proj/${s.rel}` })),
  );
  await assertNoSecretIn(pod, '/workspace');
  assert.deepEqual(await podLinks(pod, '/workspace/up/proj'), { ...EXPECTED_LINKS });
  assert.equal(r.links, Object.keys(EXPECTED_LINKS).length);
  assert.equal(await pod.sh('cat /workspace/up/proj/data/latest/m.bin /workspace/up/proj/train.py'), 'weights\nprint("train")\n');
});

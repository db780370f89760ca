/**
 * Security finding 3: a download never writes outside the folder the user chose. Pod file names
 * are any bytes but `/` and NUL: `..\..\evil.bat` is one Linux name that Windows reads as a path
 * (checked with the Windows rules on Linux by passing the platform), and a local folder whose
 * `logs/` is a symlink to elsewhere must not receive the pod's `logs/authorized_keys`. A refused
 * entry is listed and the rest of the download completes — for Download… (pull of each selected
 * path, named by its pod basename) and for Release's "Download results first" (pull of /workspace).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { unsafeLocalName } from '../../../src/kgpu/transfer/local-path-guard';
import { downloadFromPod } from '../../../src/kgpu/transfer/pod-download';
import { pull } from '../../../src/kgpu/transfer/sync';
import { podWrite, startFleet } from '../reliability/fleet-fixture';

test('unsafeLocalName: Windows rules (separators, drive/stream colons, reserved device names, trailing dot/space) — only on win32', () => {
  for (const n of [
    '..\\..\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\run.bat',
    'C:evil',
    'file.txt:stream',
    'CON',
    'con.txt',
    'NUL',
    'Com1.log',
    'lpt9',
    'AUX.tar.gz',
    'trailing.',
    'space ',
    'a|b',
    'q?.txt',
    'tab\there',
  ]) {
    assert.ok(unsafeLocalName(n, 'win32'), `${JSON.stringify(n)} is refused on Windows`);
  }
  for (const n of ['run.bat', 'console.txt', 'nullable.py', 'com10', 'CONFIG', '.hidden', 'ünï ☃.txt'])
    assert.equal(unsafeLocalName(n, 'win32'), undefined, n);
  // On Linux the same names are plain names, except the ones that are never names.
  assert.equal(unsafeLocalName('..\\..\\evil.bat', 'linux'), undefined);
  assert.equal(unsafeLocalName('CON', 'linux'), undefined);
  for (const n of ['', '.', '..']) assert.ok(unsafeLocalName(n, 'linux'));
});

test('Download…: hostile pod names (Windows rules) and a local logs/ symlinked elsewhere are refused and listed; the rest completes', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const hostile = ['..\\..\\evil.bat', 'C:evil.txt', 'CON', 'nul.txt', 'trailing.'];
  for (const n of hostile) await podWrite(pod, `/workspace/out/${n}`, 'hostile\n');
  await podWrite(pod, '/workspace/out/ok.txt', 'ok\n');
  await podWrite(pod, '/workspace/out/sub/fine.txt', 'fine\n');
  await podWrite(pod, '/workspace/out/logs/authorized_keys', 'ssh-ed25519 AAAA attacker\n');
  await podWrite(pod, '/workspace/out/logs/deeper/x.txt', 'x\n');
  await podWrite(pod, '/workspace/..\\..\\AppData\\Startup\\run.bat', 'hostile\n');

  const base = f.tmp('dl');
  const chosen = path.join(base, 'chosen');
  const outside = path.join(base, 'dot-ssh');
  fs.mkdirSync(path.join(chosen, 'out'), { recursive: true });
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(chosen, 'out', 'logs'));
  const before = new Set(fs.readdirSync(base));

  const { connector } = await pod.fs().connection();
  const r = await downloadFromPod(connector, ['/workspace/out', '/workspace/..\\..\\AppData\\Startup\\run.bat'], chosen, {
    platform: 'win32',
  });
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing landed in the folder logs/ links to');
  assert.deepEqual(new Set(fs.readdirSync(base)), before, 'nothing was created beside the chosen folder');
  assert.equal(fs.readFileSync(path.join(chosen, 'out', 'ok.txt'), 'utf8'), 'ok\n');
  assert.equal(fs.readFileSync(path.join(chosen, 'out', 'sub', 'fine.txt'), 'utf8'), 'fine\n');
  assert.equal(r.files, 2);
  const refused = r.refused.map((e) => e.path).sort();
  assert.deepEqual(refused, [
    '/workspace/..\\..\\AppData\\Startup\\run.bat',
    'out/..\\..\\evil.bat',
    'out/C:evil.txt',
    'out/CON',
    'out/logs',
    'out/logs/authorized_keys',
    'out/logs/deeper',
    'out/logs/deeper/x.txt',
    'out/nul.txt',
    'out/trailing.',
  ]);
  assert.match(r.refused.find((e) => e.path === 'out/logs/authorized_keys')!.reason, /leads outside/);
  assert.match(r.refused.find((e) => e.path === 'out/CON')!.reason, /reserved device name/);
  for (const n of fs.readdirSync(path.join(chosen, 'out'))) assert.ok(!n.includes('kgpu-part'), `no temp file left: ${n}`);
});

test('Release → Download results first (pull of /workspace): the same guard; on Linux the backslash name is just a name', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await podWrite(pod, '/workspace/results/metrics.json', '{}\n');
  await podWrite(pod, '/workspace/logs/authorized_keys', 'ssh-ed25519 AAAA attacker\n');
  await podWrite(pod, '/workspace/..\\evil.bat', 'plain name on Linux\n');
  const base = f.tmp('rel');
  const folder = path.join(base, 'results-here');
  const outside = path.join(base, 'elsewhere');
  fs.mkdirSync(folder);
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(folder, 'logs'));

  const r = await pull(pod.commands(), '/workspace', folder, { within: folder, platform: 'linux' });
  assert.deepEqual(fs.readdirSync(outside), []);
  assert.equal(fs.readFileSync(path.join(folder, 'results', 'metrics.json'), 'utf8'), '{}\n');
  assert.equal(fs.readFileSync(path.join(folder, '..\\evil.bat'), 'utf8'), 'plain name on Linux\n');
  assert.deepEqual(r.refused.map((e) => e.path).sort(), ['workspace/logs', 'workspace/logs/authorized_keys']);
});

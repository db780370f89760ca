/**
 * Hostile names and huge inputs through every path that builds commands or paths: upload
 * (Upload…'s core), save / rename / delete (WorkspaceFs), run (JobRunner: script path and
 * arguments) and download (Download…'s core). Names carry spaces, quotes, `$(…)`, backticks,
 * newlines, a leading `-`, globs and `;`; canaries (`$(cd;touch pwned-…)`, `` `cd;touch pwned-…` ``,
 * `;cd;touch pwned-…;`) must never run — the canary file appears neither in the pod nor here.
 * Over-long names are refused clearly; a save over the editor limit and an exec with > 1 MiB of
 * stdin are refused before anything is sent. (Sync's hostile names: test/unit/kgpu/transfer/sync-up.test.ts;
 * quote(): shell-quote.test.ts, incl. non-UTF-8 bytes.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ExecInputError, runExec, type ExecApi } from '../../../src/kgpu/api/exec-request';
import { downloadFromPod } from '../../../src/kgpu/transfer/pod-download';
import { uploadToPod } from '../../../src/kgpu/transfer/pod-upload';
import { WorkspaceFsError } from '../../../src/kgpu/fs/workspace-fs';
import { tempSiblingName } from '../../../src/kgpu/util/temp-name';
import { sha, startFleet, type FleetPod } from './fleet-fixture';

const TAG = `pwned-${process.pid}-${randomBytes(4).toString('hex')}`;
const HOSTILE = [
  'with space.txt',
  'it\'s "quoted".txt',
  `$(cd;touch ${TAG}-a).txt`,
  `\`cd;touch ${TAG}-b\`.txt`,
  `;cd;touch ${TAG}-c;.txt`,
  'new\nline.txt',
  '-rf --help.txt',
  '*.txt',
  'ünïcødé — ☃.txt',
  '$HOME ${PATH} %s \\x41.txt',
];

/** Where a canary could land: the pod's home, /workspace and /tmp; here: home, cwd, tmp. */
async function canaries(pod: FleetPod): Promise<string[]> {
  const inPod = await pod.sh(`find "$HOME" /workspace /tmp -maxdepth 3 -name '${TAG}*' 2>/dev/null; true`);
  const here = [os.homedir(), process.cwd(), os.tmpdir()].flatMap((d) =>
    fs
      .readdirSync(d)
      .filter((n) => n.startsWith(TAG))
      .map((n) => path.join(d, n)),
  );
  return [...inPod.split('\n').filter(Boolean), ...here];
}

test('hostile names through upload, save, rename, delete, run and download: byte-identical where allowed, never executed', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const wfs = pod.fs({ cacheTtlMs: 0 });
  const { rfs, connector } = await wfs.connection();

  // Upload… a local folder full of hostile names.
  const local = path.join(f.tmp('up'), 'hostile dir $(x)');
  fs.mkdirSync(local);
  const content = new Map(HOSTILE.map((n, i) => [n, randomBytes(100 + i * 37)]));
  for (const [n, data] of content) fs.writeFileSync(path.join(local, n), data);
  await wfs.createDirectory('/workspace/in');
  const up = await uploadToPod([local], '/workspace/in', { connector, rfs });
  assert.equal(up.files, HOSTILE.length);
  const remoteDir = `/workspace/in/${path.basename(local)}`;
  for (const [n, data] of content)
    assert.equal(sha(fs.readFileSync(pod.host(`${remoteDir}/${n}`))), sha(data), `uploaded ${JSON.stringify(n)}`);

  // Save, read, rename, delete through the file system provider's core.
  for (const [i, n] of HOSTILE.entries()) {
    const p = `/workspace/saved/${n}`;
    if (i === 0) await wfs.createDirectory('/workspace/saved');
    const data = Buffer.from(`saved ${i}\n`);
    await wfs.writeFile(p, data, { create: true, overwrite: false });
    assert.equal(sha(await wfs.readFile(p)), sha(data));
    const renamed = `/workspace/saved/renamed ${n}`;
    await wfs.rename(p, renamed, { overwrite: false });
    assert.equal(fs.readFileSync(pod.host(renamed), 'utf8'), `saved ${i}\n`);
    assert.ok(!fs.existsSync(pod.host(p)));
    await wfs.delete(renamed, { recursive: false });
    assert.ok(!fs.existsSync(pod.host(renamed)), `deleted ${JSON.stringify(n)}`);
  }
  assert.deepEqual(await wfs.readDirectory('/workspace/saved'), []);

  // Run a script whose path and arguments are hostile: the arguments arrive as they were typed.
  const script = `${remoteDir}/$(cd;touch ${TAG}-run) it's.py`;
  await wfs.writeFile(script, Buffer.from('import sys, json\nprint(json.dumps(sys.argv[1:]))\n'), { create: true, overwrite: false });
  const args = [...HOSTILE.filter((n) => !n.includes('\n')), `$(cd;touch ${TAG}-arg)`, '--', '-'];
  const chunks: Buffer[] = [];
  const runner = f.runner();
  const h = runner.runFile({
    podId: pod.podId,
    target: { kind: 'pod', path: script },
    python: 'python3',
    args,
    env: { HOSTILE_ENV: `$(cd;touch ${TAG}-env)` },
    onData: (b) => void chunks.push(b),
  });
  const r = await h.done;
  assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
  assert.deepEqual(JSON.parse(Buffer.concat(chunks).toString().trim()) as string[], args);

  // Download… the folder back here: every name and byte intact.
  const down = f.tmp('down');
  const got = await downloadFromPod(connector, [remoteDir], down);
  assert.equal(got.files, HOSTILE.length + 1);
  for (const [n, data] of content)
    assert.equal(sha(fs.readFileSync(path.join(down, path.basename(local), n))), sha(data), `downloaded ${JSON.stringify(n)}`);

  assert.deepEqual(await canaries(pod), [], 'no canary ran, in the pod or here');
});

test('over-long names are refused with a clear message naming the path; nothing half-made', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const wfs = pod.fs({ cacheTtlMs: 0 });
  const long = `${'n'.repeat(300)}.txt`;
  const e = await wfs.writeFile(`/workspace/${long}`, Buffer.from('x'), { create: true, overwrite: false }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof WorkspaceFsError, String(e));
  assert.ok(e.message.includes(long.slice(0, 40)), e.message);
  assert.match(e.message, /name is 304 bytes long; names in the pod can have at most 255 bytes\. Choose a shorter name\./);
  await assert.rejects(wfs.createDirectory(`/workspace/${long}`), /at most 255 bytes/);
  await assert.rejects(wfs.rename('/workspace/.kgpu', `/workspace/${long}`, { overwrite: false }), /at most 255 bytes/);
  await assert.rejects(wfs.stat(`/workspace/${long}`), (err: unknown) => err instanceof WorkspaceFsError && err.kind === 'NotFound');
  assert.deepEqual(
    fs.readdirSync(pod.hostDir).filter((n) => n.startsWith('nnnn')),
    [],
    'no partial or temp file',
  );
  // A name of 255 bytes (the limit) can be saved — its temp file beside it must fit the limit too.
  const max = `${'m'.repeat(251)}.txt`;
  await wfs.writeFile(`/workspace/${max}`, Buffer.from('ok'), { create: true, overwrite: false });
  assert.equal(fs.readFileSync(pod.host(`/workspace/${max}`), 'utf8'), 'ok');
  // …and copied in the pod, uploaded, downloaded (every temp name beside it stays within 255 bytes).
  const snow = `${'☃'.repeat(84)}.py`; // 252 + 3 bytes: a shortened temp name must not split a character
  await wfs.copy(`/workspace/${max}`, `/workspace/${snow}`, { overwrite: false });
  assert.equal(fs.readFileSync(pod.host(`/workspace/${snow}`), 'utf8'), 'ok');
  const { rfs, connector } = await wfs.connection();
  const localDir = f.tmp('long');
  const data = randomBytes(300_000);
  fs.writeFileSync(path.join(localDir, max), data);
  await rfs.mkdirp('/workspace/up');
  await uploadToPod([path.join(localDir, max)], '/workspace/up', { connector, rfs });
  assert.equal(sha(fs.readFileSync(pod.host(`/workspace/up/${max}`))), sha(data));
  const down = f.tmp('long-down');
  await downloadFromPod(connector, [`/workspace/up/${max}`, `/workspace/${snow}`], down);
  assert.equal(sha(fs.readFileSync(path.join(down, max))), sha(data));
  assert.equal(fs.readFileSync(path.join(down, snow), 'utf8'), 'ok');
  assert.deepEqual(fs.readdirSync(down).sort(), [max, snow].sort(), 'no temp file left here');
  assert.deepEqual(
    fs.readdirSync(pod.hostDir).filter((n) => n.includes('.kgpu-')),
    [],
    'no temp file left in the pod',
  );
});

test('tempSiblingName: within 255 bytes, suffix whole, never a split UTF-8 character, deterministic', () => {
  for (const base of ['short.py', 'x'.repeat(255), '☃'.repeat(100), `a${'é'.repeat(130)}`, '😀'.repeat(70)]) {
    const n = tempSiblingName(base, '.kgpu-0123456789ab.tmp');
    assert.ok(Buffer.byteLength(n) <= 255, `${Buffer.byteLength(n)} bytes`);
    assert.ok(n.startsWith('.') && n.endsWith('.kgpu-0123456789ab.tmp'));
    assert.ok(!n.includes('\uFFFD'), 'no replacement character');
    assert.equal(tempSiblingName(base, '.kgpu-0123456789ab.tmp'), n);
    if (Buffer.byteLength(base) <= 255 - 23) assert.equal(n, `.${base}.kgpu-0123456789ab.tmp`, 'short names unchanged');
  }
});

test('huge inputs: a save over the editor limit and an exec with > 1 MiB of stdin are refused before anything is sent', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const limit = 1024 * 1024;
  const wfs = pod.fs({ maxFileBytes: () => limit });
  await wfs.writeFile('/workspace/big.bin', Buffer.from('old'), { create: true, overwrite: true });
  const c0 = f.sim.bastion.counters.connections;
  const e = await wfs.writeFile('/workspace/big.bin', randomBytes(limit + 1), { create: true, overwrite: true }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof WorkspaceFsError, String(e));
  assert.match(e.message, /limit is 1(\.0)? MB|kgpu\.maxEditorFileSizeMB/);
  assert.match(e.message, /Upload/);
  assert.equal(fs.readFileSync(pod.host('/workspace/big.bin'), 'utf8'), 'old', 'the file is untouched');
  assert.equal(f.sim.bastion.counters.connections, c0, 'nothing was sent');

  let sent = 0;
  const api: ExecApi = { exec: (id, req, o) => (sent++, f.client.exec(id, req, o)) };
  await assert.rejects(runExec(api, pod.podId, { argv: ['wc', '-c'], stdin: 'x'.repeat(1024 * 1024 + 1) }), (err: unknown) => {
    assert.ok(err instanceof ExecInputError, String(err));
    assert.match(err.message, /at most 1 MiB of stdin.*Upload/);
    return true;
  });
  assert.equal(sent, 0, 'the exec was refused before sending');
  const ok = await runExec(api, pod.podId, { argv: ['wc', '-c'], stdin: 'x'.repeat(1024 * 1024) });
  assert.equal(ok.response.stdout.trim(), String(1024 * 1024), 'exactly 1 MiB is accepted');
});

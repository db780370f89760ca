import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { exec, execStream, shell } from '../../../../src/kgpu/ssh/ssh-exec';
import { quote, quoteArgv } from '../../../../src/kgpu/util/shell-quote';
import { AuthRejectedError, BastionUnreachableError, SshAbortedError } from '../../../../src/kgpu/ssh/ssh-errors';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { MemoryHostKeyStore } from '../../../../src/kgpu/ssh/host-keys';
import { RemoteFs } from '../../../../src/kgpu/fs/remote-fs';
import { startPodFixture, throwawayKey, type PodFixture } from './pod-fixture';

let pod: PodFixture;
before(async () => {
  pod = await startPodFixture();
});
after(async () => {
  await pod?.stop();
});

test('exec: exit codes, stdout and stderr apart, runs in /workspace', async () => {
  const c = pod.connector();
  const ok = await exec(c, 'echo out; echo err >&2; pwd');
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.signal, null);
  assert.equal(ok.stdout.toString(), 'out\n/workspace\n');
  assert.equal(ok.stderr.toString(), 'err\n');
  const r = await exec(c, ['sh', '-c', 'exit 42']);
  assert.equal(r.exitCode, 42);
  assert.equal(c.openConnections, 0, 'every connection is closed with its channel');
});

test('exec: a process killed by a signal reports the signal, not an exit code', async () => {
  const r = await exec(pod.connector(), 'kill -TERM $$');
  assert.equal(r.exitCode, null);
  assert.equal(r.signal, 'SIGTERM');
});

test('exec: stdin is delivered byte for byte, then EOF', async () => {
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
  const r = await exec(pod.connector(), 'sha256sum', { stdin: data });
  const { createHash } = await import('node:crypto');
  assert.equal(r.stdout.toString().split(' ')[0], createHash('sha256').update(data).digest('hex'));
  const e = await exec(pod.connector(), 'cat; echo done');
  assert.equal(e.stdout.toString(), 'done\n', 'no stdin given → immediate EOF');
});

test('execStream: streams stdout while the command runs and takes stdin incrementally', async () => {
  const s = await execStream(pod.connector(), 'while read l; do echo "got $l"; done');
  const lines: string[] = [];
  s.stdout.on('data', (b: Buffer) => lines.push(b.toString()));
  s.stdin.write('a\n');
  await new Promise<void>((resolve) => s.stdout.once('data', () => resolve()));
  s.stdin.end('b\n');
  const st = await s.done;
  assert.equal(st.exitCode, 0);
  assert.equal(lines.join(''), 'got a\ngot b\n');
});

test('exec: hostile file names round-trip through commands built with quote()', async () => {
  const names = ['two words', "it's", '"dq"', '$(touch pwned)', '`touch pwned`', 'new\nline', '-rf', '--help', '*', 'ü ✓', ';ls|&>'];
  const c = pod.connector();
  await exec(c, 'mkdir -p /workspace/hostile');
  for (const n of names) {
    const r = await exec(c, `printf %s ${quote(n)} > /workspace/hostile/${quote(n)}`);
    assert.equal(r.exitCode, 0, r.stderr.toString());
  }
  const ls = await exec(c, quoteArgv(['find', '/workspace/hostile', '-mindepth', '1', '-printf', '%f\\0']));
  const listed = ls.stdout.toString().split('\0').filter(Boolean).sort();
  assert.deepEqual(listed, [...names].sort());
  for (const n of names) {
    const r = await exec(c, ['cat', '--', `/workspace/hostile/${n}`]);
    assert.equal(r.stdout.toString(), n);
  }
  assert.equal((await exec(c, 'test -e pwned || test -e /workspace/hostile/pwned; echo $?')).stdout.toString(), '1\n');
});

test('exec: abort kills the command and rejects with SshAbortedError', async () => {
  const ac = new AbortController();
  const p = exec(pod.connector(), 'sleep 30', { signal: ac.signal });
  setImmediate(() => ac.abort());
  const t0 = Date.now();
  await assert.rejects(p, SshAbortedError);
  assert.ok(Date.now() - t0 < 20_000, 'rejected before the 30 s command could end (a hang bound, not a speed goal)');
});

test('one channel per connection: many parallel execs and file ops never open a second channel', async () => {
  const c = pod.connector();
  const fsys = new RemoteFs(c);
  try {
    const before = pod.bastion.counters.refusedChannels;
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 12; i++) ops.push(exec(c, `echo ${i}`).then((r) => assert.equal(r.stdout.toString(), `${i}\n`)));
    for (let i = 0; i < 12; i++) ops.push(fsys.writeFile(`/workspace/par-${i}`, `${i}`).then(() => fsys.stat(`/workspace/par-${i}`)));
    ops.push(fsys.readdir('/workspace'));
    await Promise.all(ops);
    assert.equal(pod.bastion.counters.refusedChannels, before);
    assert.equal(pod.bastion.counters.refusedChannels, 0);
  } finally {
    fsys.dispose();
  }
});

test('shell: PTY with resize, and the exit status comes back', async (t) => {
  const sh = await shell(pod.connector(), { cols: 80, rows: 24 });
  t.after(() => sh.close());
  let out = '';
  sh.stream.on('data', (b: Buffer) => (out += b.toString()));
  const waitFor = async (re: RegExp): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!re.test(out)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(out)}`);
      // Wake on new output, or when the deadline passes (then the check above throws).
      await new Promise<void>((r) => {
        const timer = setTimeout(r, deadline - Date.now());
        sh.stream.once('data', () => {
          clearTimeout(timer);
          r();
        });
      });
    }
  };
  sh.stream.write('stty size; echo MARK1\n');
  await waitFor(/24 80\r?\n(.|\r|\n)*MARK1\r?\n/);
  sh.resize(100, 40);
  sh.stream.write('stty size; echo MARK2\n');
  await waitFor(/40 100\r?\n(.|\r|\n)*MARK2\r?\n/);
  sh.stream.write('exit 3\n');
  assert.deepEqual(await sh.exit, { exitCode: 3, signal: null });
});

test('auth: a key the bastion no longer routes gets AuthRejectedError with the actionable text', async () => {
  const k = throwawayKey();
  const c = pod.connector({ privateKey: k.privateKey });
  pod.directory.pins.set(k.fingerprint, { podId: pod.podId, handle: pod.handle });
  assert.equal((await exec(c, 'true')).exitCode, 0);
  pod.directory.pins.delete(k.fingerprint); // the rental ended / the key was rotated
  const err = await exec(c, 'true').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof AuthRejectedError, String(err));
  assert.match(err.message, /Permission denied \(publickey\)/);
  assert.match(err.message, /the rental has ended or its SSH key was rotated/);
});

test('unreachable bastion: a clear BastionUnreachableError naming host:port', async () => {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const c = new PodConnector({ host: '127.0.0.1', port, privateKey: pod.privateKey, hostKeys: new MemoryHostKeyStore() });
  const err = await exec(c, 'true').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof BastionUnreachableError, String(err));
  assert.match(err.message, new RegExp(`[Cc]annot reach the bastion at 127\\.0\\.0\\.1:${port}`));
  c.dispose();
});

/**
 * Streams through the pod agent against a simulator pod and real Python in it: TCP to an HTTP
 * server on the pod's loopback (bytes checked by sha256), 50 parallel requests over one agent and
 * one SSH connection, per-stream flow control both ways (a stream nobody reads or a process that
 * never reads its stdin does not stall another), process streams (stdout, stderr, exit code,
 * signal), Unix sockets, refusals (non-loopback, nothing listening, bad argv), and a connection
 * dropped mid-transfer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { AgentOpenError, DEFAULT_AGENT_MAX_WINDOW, DEFAULT_AGENT_WINDOW, type AgentStream } from '../../../src/kgpu/agent';
import { ConnectionLostError } from '../../../src/kgpu/ssh/ssh-errors';
import { sha256, startAgentFixture, waitFor, type AgentFixture } from './agent-fixture';
import { httpGet, parseResponse } from './pod-http-server';

let f: AgentFixture;
before(async () => {
  f = await startAgentFixture();
});
after(async () => {
  await f?.stop();
});

async function readAll(s: AgentStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

test("a TCP stream to an HTTP server on the pod's loopback gets the file byte for byte", async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const hash = f.writeFile('www/big.bin', data);
  const port = await f.httpPort();
  const client = f.client();
  const s = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
  const r = await httpGet(s, '/big.bin');
  assert.equal(r.status, 200);
  assert.equal(r.body.length, data.length);
  assert.equal(sha256(r.body), hash);
  assert.ok(s.receiveWindow > DEFAULT_AGENT_WINDOW, `a stream whose reader keeps up gets a larger window (${s.receiveWindow})`);
  assert.ok(s.receiveWindow <= DEFAULT_AGENT_MAX_WINDOW);
  // 'localhost' and the rest of 127.0.0.0/8 are loopback too.
  const s2 = await client.openStream({ kind: 'tcp', host: 'localhost', port });
  assert.equal((await httpGet(s2, '/big.bin')).body.length, data.length);
  await waitFor('both streams to be closed', () => client.openStreams === 0);
});

test('50 parallel HTTP requests over one agent: all correct, one SSH connection', async () => {
  const port = await f.httpPort();
  const files = Array.from({ length: 50 }, (_, i) => {
    const data = randomBytes(1000 + ((i * 7919) % 200_000));
    return { name: `p${i}.bin`, hash: f.writeFile(`www/p${i}.bin`, data), size: data.length };
  });
  const client = f.client();
  const accepted = f.gate.accepted;
  const results = await Promise.all(
    files.map(async (file) => {
      const s = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
      return httpGet(s, `/${file.name}`);
    }),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, 200, files[i].name);
    assert.equal(r.body.length, files[i].size, files[i].name);
    assert.equal(sha256(r.body), files[i].hash, files[i].name);
  }
  assert.equal(f.gate.accepted - accepted, 1, 'one SSH connection for the agent and all 50 streams');
  assert.equal(client.stats.starts, 1);
  assert.equal(client.stats.streams, 50);
  assert.equal(f.pod.bastion.counters.refusedChannels, 0, 'never a second channel on a connection');
});

test('a stream nobody reads stops at its window and does not stall another; read later, it is intact', async () => {
  const data = randomBytes(4 * 1024 * 1024);
  const hash = f.writeFile('www/stalled.bin', data);
  const small = randomBytes(100_000);
  const smallHash = f.writeFile('www/small.bin', small);
  const port = await f.httpPort();
  const client = f.client();
  const stalled = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
  stalled.write('GET /stalled.bin HTTP/1.0\r\n\r\n');
  // Not read: the agent sends exactly one window, then waits for credit.
  await waitFor('the stalled stream to fill its window', () => stalled.readableLength === DEFAULT_AGENT_WINDOW);

  const other = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
  const r = await httpGet(other, '/small.bin');
  assert.equal(sha256(r.body), smallHash, 'the other stream got its bytes while the first one was stalled');
  const proc = await client.openStream({ kind: 'process', argv: ['echo', 'still flowing'] });
  assert.equal((await readAll(proc)).toString(), 'still flowing\n');
  assert.equal(stalled.readableLength, DEFAULT_AGENT_WINDOW, 'the stalled stream holds no more than its window');
  assert.equal(stalled.receiveWindow, DEFAULT_AGENT_WINDOW, 'a stream nobody reads never gets a larger window');

  stalled.end();
  const whole = parseResponse(await readAll(stalled));
  assert.equal(whole.body.length, data.length);
  assert.equal(sha256(whole.body), hash, 'the stalled stream resumed intact');
});

test('a process that never reads its stdin holds back only its own writes', async () => {
  const client = f.client();
  const sleeper = await client.openStream({ kind: 'process', argv: ['sleep', '1000'] });
  const big = Buffer.alloc(4 * 1024 * 1024, 1);
  let written = false;
  sleeper.write(big, () => (written = true));
  // Another stream round-trips data through the same channel meanwhile.
  const cat = await client.openStream({ kind: 'process', argv: ['cat'] });
  const payload = randomBytes(1024 * 1024);
  const echoed = readAll(cat);
  cat.end(payload);
  assert.equal(sha256(await echoed), sha256(payload));
  assert.equal(written, false, 'the write to the process that does not read is still waiting for credit');
  assert.ok(
    sleeper.writableLength > big.length - 1024 * 1024,
    `at most the window and a pipe buffer went out (${big.length - sleeper.writableLength} bytes)`,
  );
  const pid = sleeper.pid;
  assert.ok(pid && (await f.alive(pid)));
  sleeper.destroy();
  await waitFor('the process to be terminated with its stream', async () => !(await f.alive(pid)));
});

test('process streams: stdout, stderr, stdin, exit code, signal, cwd and env', async () => {
  const client = f.client();
  const s = await client.openStream({
    kind: 'process',
    argv: ['sh', '-c', 'echo "out $FOO $(pwd)"; echo err >&2; cat; exit 3'],
    cwd: '/tmp',
    env: { FOO: 'bar' },
  });
  assert.ok(s.stderr);
  assert.ok(typeof s.pid === 'number' && s.pid > 1);
  const err = readAll(s.stderr as AgentStream);
  const out = readAll(s);
  s.end('from stdin\n');
  assert.equal((await out).toString(), 'out bar /tmp\nfrom stdin\n');
  assert.equal((await err).toString(), 'err\n');
  assert.deepEqual(await s.exit, { exitCode: 3, signal: null });

  const killed = await client.openStream({ kind: 'process', argv: ['sh', '-c', 'kill -TERM $$'] });
  killed.resume();
  assert.deepEqual(await killed.exit, { exitCode: null, signal: 'SIGTERM' });

  const merged = await client.openStream({ kind: 'process', argv: ['sh', '-c', 'echo a; echo b >&2'], stderr: 'merge' });
  assert.equal(merged.stderr, undefined);
  assert.equal((await readAll(merged)).toString().split('\n').sort().join(','), ',a,b');
  assert.deepEqual(await merged.exit, { exitCode: 0, signal: null });
});

test('a Unix socket in the pod', async () => {
  const client = f.client();
  // A one-shot echo server on a Unix socket, started as a process stream that says when it listens.
  const server = await client.openStream({
    kind: 'process',
    argv: [
      'python3',
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind("/tmp/agent-test.sock")\ns.listen(1)\nprint("listening",flush=True)\nc,_=s.accept()\nd=c.recv(100)\nc.sendall(d.upper())\nc.close()',
    ],
  });
  server.setEncoding('utf8');
  const [line] = (await once(server, 'data')) as string[];
  assert.equal(line, 'listening\n');
  const s = await client.openStream({ kind: 'unix', path: '/tmp/agent-test.sock' });
  s.end('hello unix');
  assert.equal((await readAll(s)).toString(), 'HELLO UNIX');
  server.resume();
  assert.deepEqual(await server.exit, { exitCode: 0, signal: null });
});

test('only loopback and Unix-socket targets: anything else is refused with a clear error', async () => {
  const client = f.client();
  for (const host of ['10.0.0.1', '8.8.8.8', '0.0.0.0', '169.254.169.254', 'example.com', '::ffff:127.0.0.1', '127.1', '']) {
    await assert.rejects(
      client.openStream({ kind: 'tcp', host, port: 80 }),
      (e: unknown) => {
        assert.ok(e instanceof AgentOpenError, String(e));
        assert.equal(e.code, 'EPERM');
        assert.match(e.message, /only connects to loopback addresses/);
        return true;
      },
      host,
    );
  }
  await assert.rejects(
    client.openStream({ kind: 'tcp', host: '127.0.0.1', port: 0 }),
    (e: unknown) => e instanceof AgentOpenError && e.code === 'EINVAL',
  );
  await assert.rejects(
    client.openStream({ kind: 'unix', path: 'relative.sock' }),
    (e: unknown) => e instanceof AgentOpenError && e.code === 'EINVAL',
  );
  // Nothing listening, no such program: the pod's own errors.
  await assert.rejects(client.openStream({ kind: 'tcp', host: '127.0.0.1', port: 1 }), (e: unknown) => {
    assert.ok(e instanceof AgentOpenError && e.code === 'ECONNREFUSED', String(e));
    assert.match(e.message, /Is the server running in the pod/);
    return true;
  });
  await assert.rejects(
    client.openStream({ kind: 'unix', path: '/tmp/nothing-here.sock' }),
    (e: unknown) => e instanceof AgentOpenError && e.code === 'ENOENT',
  );
  await assert.rejects(
    client.openStream({ kind: 'process', argv: ['/no/such/program'] }),
    (e: unknown) => e instanceof AgentOpenError && e.code === 'ENOENT',
  );
  await assert.rejects(
    client.openStream({ kind: 'process', argv: [] }),
    (e: unknown) => e instanceof AgentOpenError && e.code === 'EINVAL',
  );
  // The agent is still there and works.
  assert.equal(client.stats.starts, 1);
  const ok = await client.openStream({ kind: 'process', argv: ['echo', 'ok'] });
  assert.equal((await readAll(ok)).toString(), 'ok\n');
});

test('a connection dropped mid-transfer fails every stream in flight with ConnectionLostError; the next open starts a new agent', async () => {
  const data = randomBytes(8 * 1024 * 1024);
  f.writeFile('www/drop.bin', data);
  const port = await f.httpPort();
  const client = f.client();
  const a = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
  const b = await client.openStream({ kind: 'process', argv: ['sleep', '1000'] });
  const sleeperPid = b.pid;
  const placed = client.stats.placements;
  const errors = [once(a, 'error'), once(b, 'error')];
  a.write('GET /drop.bin HTTP/1.0\r\n\r\n');
  let got = 0;
  a.on('data', (c: Buffer) => {
    if (got === 0) f.pod.bastion.dropConnections({ podId: f.pod.podId });
    got += c.length;
  });
  const [[ea], [eb]] = (await Promise.all(errors)) as [Error[], Error[]];
  for (const e of [ea, eb]) {
    assert.ok(e instanceof ConnectionLostError, String(e));
    assert.match(e.message, /through the kgpu pod agent/);
  }
  assert.match(ea.message, /127\.0\.0\.1:\d+/);
  assert.ok(got > 0 && got < data.length, `part of the transfer arrived (${got})`);
  await assert.rejects(b.exit as Promise<unknown>, ConnectionLostError);
  assert.equal(a.failure, ea);
  await waitFor('the client to notice', () => client.state === 'idle');
  // The agent's processes died with it.
  assert.ok(sleeperPid);
  await waitFor("the agent's process to be gone", async () => !(await f.alive(sleeperPid)));

  const again = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
  const r = await httpGet(again, '/drop.bin');
  assert.equal(sha256(r.body), sha256(data));
  assert.deepEqual({ starts: client.stats.starts, drops: client.stats.drops }, { starts: 2, drops: 1 });
  assert.equal(client.stats.placements, placed, 'the agent was still in the pod: not sent again');
});

/**
 * Port forwarding through the pod agent against a simulator pod: a local 127.0.0.1 listener whose
 * connections reach an HTTP server on the pod's loopback (Node's own HTTP client, bytes checked by
 * sha256), 50 parallel requests over one SSH connection, a connection dropped mid-transfer (the
 * client sees a reset, never a clean truncated body, and the forward keeps working), nothing
 * listening in the pod, the local-port choice, and the pod's listening sockets (a new
 * `train.py` server is reported once, with its name).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { AgentOpenError, type AgentClient } from '../../../src/kgpu/agent';
import { listListeningSockets, PortForward, PortForwardError, PortWatcher, type ListeningSocket } from '../../../src/kgpu/ports';
import { sha256, startAgentFixture, waitFor, type AgentFixture } from '../agent/agent-fixture';

let f: AgentFixture;
before(async () => {
  f = await startAgentFixture();
});
after(async () => {
  await f?.stop();
});

const forwards: PortForward[] = [];
after(() => {
  for (const fw of forwards) fw.dispose();
});

function forward(client: AgentClient, podPort: number, localPort?: number, ifTaken?: 'any' | 'fail'): Promise<PortForward> {
  return PortForward.listen({
    podPort,
    localPort,
    ifTaken,
    openStream: (signal) => client.openStream({ kind: 'tcp', host: '127.0.0.1', port: podPort }, { signal }),
  }).then((fw) => {
    forwards.push(fw);
    return fw;
  });
}

interface Got {
  status: number;
  body: Buffer;
}

/** GET over a new TCP connection (no keep-alive agent), the whole body. */
function get(port: number, path: string, onFirstData?: () => void): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (chunks.length === 0) onFirstData?.();
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('aborted')));
    });
    req.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('a local client reaches an HTTP server in the pod through a forwarded port, byte for byte', async () => {
  const data = randomBytes(2 * 1024 * 1024 + 5);
  const hash = f.writeFile('www/fw.bin', data);
  const podPort = await f.httpPort();
  const client = f.client();
  const fw = await forward(client, podPort, await freePort());
  assert.match(fw.address, /^127\.0\.0\.1:\d+$/);
  const r = await get(fw.localPort, '/fw.bin');
  assert.equal(r.status, 200);
  assert.equal(sha256(r.body), hash);
  // A missing file is the pod server's own 404, not ours.
  assert.equal((await get(fw.localPort, '/nope.bin')).status, 404);
  assert.equal(fw.stats.accepted, 2);
  assert.equal(fw.stats.failed, 0);
});

test('50 parallel requests through one forward: all correct, one SSH connection, one agent', async () => {
  const podPort = await f.httpPort();
  const files = Array.from({ length: 50 }, (_, i) => {
    const data = randomBytes(500 + ((i * 104729) % 150_000));
    return { name: `fw${i}.bin`, hash: f.writeFile(`www/fw${i}.bin`, data), size: data.length };
  });
  const client = f.client();
  const accepted = f.gate.accepted;
  const fw = await forward(client, podPort, 0);
  const results = await Promise.all(files.map((file) => get(fw.localPort, `/${file.name}`)));
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, 200, files[i].name);
    assert.equal(r.body.length, files[i].size, files[i].name);
    assert.equal(sha256(r.body), files[i].hash, files[i].name);
  }
  assert.equal(f.gate.accepted - accepted, 1, 'one SSH connection for all 50 connections');
  assert.equal(client.stats.starts, 1);
  assert.equal(fw.stats.accepted, 50);
  assert.equal(f.pod.bastion.counters.refusedChannels, 0);
});

test('a connection dropped mid-transfer: the local client sees a reset (never a clean short body), and the forward keeps working', async () => {
  const data = randomBytes(8 * 1024 * 1024);
  const hash = f.writeFile('www/fwdrop.bin', data);
  const podPort = await f.httpPort();
  const client = f.client();
  const fw = await forward(client, podPort, 0);
  const failures: Error[] = [];
  fw.onDidFailConnection((e) => failures.push(e));
  // A raw client: a truncated reply must arrive as a reset (ECONNRESET), never as a clean end that a
  // client without Content-Length (a stream, a WebSocket) would take for the whole reply.
  const raw = net.connect({ host: '127.0.0.1', port: fw.localPort });
  raw.end('GET /fwdrop.bin HTTP/1.0\r\n\r\n');
  let got = 0;
  const outcome = await new Promise<string>((resolve) => {
    raw.on('data', (c: Buffer) => {
      if (got === 0) f.pod.bastion.dropConnections({ podId: f.pod.podId });
      got += c.length;
    });
    raw.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    raw.on('end', () => resolve('clean end'));
  });
  assert.equal(outcome, 'ECONNRESET');
  assert.ok(got > 0 && got < data.length, `part of the reply arrived (${got} bytes)`);
  await waitFor('the forward to report the failed connection', () => failures.length === 1);
  await waitFor('the agent to be gone', () => client.state === 'idle');
  // The listener stayed up: the next connection starts a new agent.
  const r = await get(fw.localPort, '/fwdrop.bin');
  assert.equal(sha256(r.body), hash);
  assert.equal(client.stats.drops, 1);
  assert.equal(client.stats.starts, 2);
});

test('nothing listening on the pod port: the local connection is reset and the forward reports why', async () => {
  const client = f.client();
  const fw = await forward(client, 1, 0);
  const failures: Error[] = [];
  fw.onDidFailConnection((e) => failures.push(e));
  await assert.rejects(get(fw.localPort, '/'));
  await waitFor('the failure', () => failures.length === 1);
  assert.ok(failures[0] instanceof AgentOpenError && failures[0].code === 'ECONNREFUSED', String(failures[0]));
});

test("the local port: the pod port's number when free, another one when taken, or an error when asked to fail", async () => {
  const client = f.client();
  const podPort = await f.httpPort();
  const wanted = await freePort();
  const same = await forward(client, podPort, wanted);
  assert.equal(same.localPort, wanted);
  // Now taken (by the forward itself): 'any' picks another free port, 'fail' explains.
  const other = await forward(client, podPort, wanted);
  assert.notEqual(other.localPort, wanted);
  assert.equal((await get(other.localPort, '/fw.bin')).status, 200);
  await assert.rejects(
    forward(client, podPort, wanted, 'fail'),
    (e: unknown) => e instanceof PortForwardError && /already in use/.test(e.message),
  );
  await assert.rejects(forward(client, 70000), PortForwardError);
  // Bound to 127.0.0.1 only.
  const s = net.connect({ host: '127.0.0.1', port: same.localPort });
  await new Promise((r, j) => s.once('connect', r).once('error', j));
  assert.equal(s.remoteAddress, '127.0.0.1');
  s.destroy();
  same.dispose();
  await assert.rejects(get(wanted, '/fw.bin'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
});

test("the pod's listening sockets: a new train.py server is reported once, with its name; existing ones are the baseline", async () => {
  const client = f.client();
  const before = await listListeningSockets((t, o) => client.openStream(t, o));
  assert.ok(before.some((s) => s.port === 0) === false);
  const watcher = new PortWatcher({ openStream: (t, o) => client.openStream(t, o), intervalMs: 200 });
  try {
    const seen: ListeningSocket[] = [];
    watcher.onDidAppear((s) => seen.push(s));
    await waitFor('the baseline list', () => watcher.lists >= 1);
    f.writeFile(
      'train.py',
      Buffer.from(
        'import socket, sys, time\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\ns.listen(5)\nopen("/workspace/train.port", "w").write(str(s.getsockname()[1]))\ntime.sleep(600)\n',
      ),
    );
    await f.sh('cd /workspace && rm -f train.port && setsid -f python3 train.py </dev/null >/dev/null 2>&1');
    const port = Number(
      await waitFor('train.py to listen', async () => (await f.sh('cat /workspace/train.port 2>/dev/null || true')).trim() || undefined),
    );
    const s = await waitFor('the watcher to report the new port', () => seen.find((x) => x.port === port));
    assert.equal(s.name, 'train.py');
    assert.equal(s.host, '127.0.0.1');
    assert.ok(typeof s.pid === 'number');
    assert.equal(seen.filter((x) => x.port === port).length, 1);
    // The baseline (the HTTP server, listening before the watch) was never reported.
    for (const b of before) assert.ok(!seen.some((x) => x.port === b.port), `baseline port ${b.port} reported`);
    const now = await listListeningSockets((t, o) => client.openStream(t, o));
    assert.ok(now.some((x) => x.port === port && x.name === 'train.py'));
    await f.sh(`kill ${s.pid}`);
  } finally {
    watcher.dispose();
  }
});

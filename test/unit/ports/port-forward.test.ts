/**
 * Port forwarding through the pod agent against a simulator pod: a local 127.0.0.1 listener whose
 * connections reach an HTTP server on the pod's loopback (Node's own HTTP client, bytes checked by
 * sha256), 50 parallel requests over one SSH connection, a connection dropped mid-transfer (the
 * client sees a reset, never a clean truncated body, and the forward keeps working), nothing
 * listening in the pod, the local-port choice, and the pod's listening sockets (a new
 * `train.py` server is reported once, with its name).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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

/**
 * A pod-side server for the drop test: each connection gets `HTTP/1.0 200` and STALL_BYTES of a
 * known pattern; for `/stall` the reply then never finishes (the server holds the connection open
 * until it is killed — the client's half-close does not end it), so the drop always lands
 * mid-reply whatever the buffers on the way hold; for `/full` the server closes (a whole reply).
 * It writes "<port> <pid>" to /workspace/stall.port once listening.
 */
const STALL_BYTES = 256 * 1024;
const STALL_SERVER = `import os, socket, threading
def serve(c):
    req = b""
    while b"\\r\\n\\r\\n" not in req:
        b = c.recv(4096)
        if not b:
            break
        req += b
    c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\n" + bytes(i % 251 for i in range(${STALL_BYTES})))
    if req.startswith(b"GET /stall "):
        threading.Event().wait()  # never finishes, even after the client's half-close
    c.close()
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open("/workspace/stall.port.tmp", "w").write("%d %d" % (s.getsockname()[1], os.getpid()))
os.rename("/workspace/stall.port.tmp", "/workspace/stall.port")
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
`;

/**
 * A raw client on this machine, in Python on purpose: it reads the socket with plain recv(), so it
 * sees what the kernel says — a reset (ECONNRESET) or a clean end (FIN). A Node client cannot tell
 * them apart reliably: libuv takes an RST that arrives while unread data is queued for a clean end
 * (its POLLHUP short-cut after a partial read, uv__stream_io), so a Node client that lags behind
 * sees a truncated reply end cleanly even though the forward reset the connection.
 * It sends the request and half-closes, reads the first bytes, says `first <n>`, then reads nothing
 * more until told (a line on stdin), then reads to the end: `reset <bytes>` or `eof <bytes>`.
 */
const RAW_CLIENT = `import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.0\\r\\n\\r\\n" % sys.argv[2]).encode())
s.shutdown(socket.SHUT_WR)
got = len(s.recv(65536))
print("first", got, flush=True)
sys.stdin.readline()
while True:
    try:
        b = s.recv(65536)
    except ConnectionResetError:
        print("reset", got, flush=True)
        break
    if not b:
        print("eof", got, flush=True)
        break
    got += len(b)
`;

/** Run RAW_CLIENT against `port`; `resume()` lets it read on; `result` is its last line. */
function rawClient(port: number, path: string): { first: Promise<string>; resume(): void; result: Promise<string>; kill(): void } {
  const child = spawn('python3', ['-c', RAW_CLIENT, String(port), path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    out += t;
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      lines.push(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
  });
  const exited = new Promise<number | null>((r) => child.once('close', r));
  return {
    first: waitFor('the raw client to read the first bytes', () => lines[0], 60_000),
    resume: () => child.stdin.end('go\n'),
    result: exited.then((code) => (code === 0 && lines.length === 2 ? lines[1] : `client exited with ${code}: ${lines.join(' / ')}`)),
    kill: () => child.kill(),
  };
}

test('a connection dropped mid-transfer: the local client sees a reset (never a clean short body), and the forward keeps working', async () => {
  f.writeFile('stall.py', Buffer.from(STALL_SERVER));
  await f.sh('cd /workspace && rm -f stall.port && setsid -f python3 stall.py </dev/null >/dev/null 2>&1');
  const [podPort, pid] = (
    await waitFor(
      'the stalling server to listen',
      async () => (await f.sh('cat /workspace/stall.port 2>/dev/null || true')).trim() || undefined,
      60_000,
    )
  )
    .split(' ')
    .map(Number);
  let raw: ReturnType<typeof rawClient> | undefined;
  try {
    const client = f.client();
    const fw = await forward(client, podPort, 0);
    const failures: Error[] = [];
    fw.onDidFailConnection((e) => failures.push(e));
    raw = rawClient(fw.localPort, '/stall');
    assert.match(await raw.first, /^first [1-9]\d*$/);
    // The reply cannot finish (the pod server holds it open): the drop lands mid-transfer. The
    // client reads nothing more until the forward has seen the failure, so the end of the local
    // connection (a reset, or a wrong clean end) arrives while unread data is queued.
    f.pod.bastion.dropConnections({ podId: f.pod.podId });
    await waitFor('the forward to report the failed connection', () => failures.length === 1, 60_000);
    raw.resume();
    const result = await raw.result;
    assert.match(result, /^reset \d+$/, 'a truncated reply must end in a reset, not a clean end');
    assert.ok(Number(result.split(' ')[1]) > 0, result);
    await waitFor('the agent to be gone', () => client.state === 'idle', 60_000);
    // The listener stayed up: the next connection starts a new agent, and a full reply ends cleanly.
    const r = await get(fw.localPort, '/full');
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(Buffer.from(Array.from({ length: STALL_BYTES }, (_, i) => i % 251))));
    assert.equal(client.stats.drops, 1);
    assert.equal(client.stats.starts, 2);
    assert.equal(failures.length, 1);
  } finally {
    raw?.kill();
    await f.sh(`kill ${pid} 2>/dev/null || true`);
  }
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

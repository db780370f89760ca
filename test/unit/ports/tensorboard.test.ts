/**
 * `kgpu: Open TensorBoard…`'s pod side (issue 19) against a simulator pod. Debian packages no
 * TensorBoard and PyPI is unreachable, so the success path runs a small stand-in `tensorboard`
 * that the test places where the command looks first (/workspace/.venv/bin/tensorboard). It acts
 * like the real CLI for what kgpu uses: `--logdir`, `--host`, `--port` (0 = a free one), serves
 * HTTP (its `/data/logdir` answers `{"logdir": …}` as TensorBoard's does) and prints
 * `TensorBoard … at http://<host>:<port>/ (Press CTRL+C to quit)`. Without it the probe finds none.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { findTensorBoard, listListeningSockets, PortForward, startTensorBoard, TENSORBOARD_LOG } from '../../../src/kgpu/ports';
import type { AgentClient } from '../../../src/kgpu/agent';
import { startAgentFixture, type AgentFixture } from '../agent/agent-fixture';

const STAND_IN = `#!/usr/bin/env python3
# A stand-in for TensorBoard's CLI (kgpu tests): --logdir, --host, --port; serves HTTP.
import argparse, http.server, json, sys
p = argparse.ArgumentParser(prog="tensorboard")
p.add_argument("--logdir", required=True)
p.add_argument("--host", default="localhost")
p.add_argument("--port", type=int, default=6006)
a = p.parse_args()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/data/logdir":
            body, kind = json.dumps({"logdir": a.logdir}).encode(), "application/json"
        else:
            body, kind = b"<!doctype html><title>TensorBoard</title>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer((a.host, a.port), H)
sys.stderr.write("TensorBoard 2.16.2 at http://%s:%d/ (Press CTRL+C to quit)\\n" % (a.host, srv.server_address[1]))
sys.stderr.flush()
srv.serve_forever()
`;

let f: AgentFixture;
let client: AgentClient;
before(async () => {
  f = await startAgentFixture();
  client = f.client();
});
const started: number[] = [];
after(async () => {
  // The stand-ins started here, by pid (they run detached).
  const pids = (await listListeningSockets(openStream).catch(() => [])).filter((s) => started.includes(s.port) && s.pid).map((s) => s.pid);
  if (pids.length) await f.sh(`kill ${pids.join(' ')}`).catch(() => undefined);
  await f?.stop();
});

const openStream: Parameters<typeof findTensorBoard>[0] = (t, o) => client.openStream(t, o);

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test('an image without TensorBoard: the probe finds none (the command then says how to install it)', async () => {
  assert.equal(await findTensorBoard(openStream), undefined);
});

test('TensorBoard (a stand-in) is found, started detached on 6006 or a free port, waited for, forwarded and answers', async () => {
  f.writeFile('.venv/bin/tensorboard', Buffer.from(STAND_IN));
  await f.sh('chmod +x /workspace/.venv/bin/tensorboard');
  const tb = await findTensorBoard(openStream);
  assert.deepEqual(tb, ['/workspace/.venv/bin/tensorboard']);

  const port = await startTensorBoard(openStream, tb!, '/workspace/runs', { pollMs: 100, timeoutMs: 60_000 });
  assert.ok(port !== undefined && port > 0);
  started.push(port);
  const log = await f.sh(`cat ${TENSORBOARD_LOG}`);
  assert.match(log, new RegExp(`TensorBoard .* at http://127\\.0\\.0\\.1:${port}/`));
  // It runs in its own session: it outlives the agent connection that started it.
  client.closeAgent();
  const fw = await PortForward.listen({
    podPort: port!,
    localPort: 0,
    openStream: (signal) => client.openStream({ kind: 'tcp', host: '127.0.0.1', port: port! }, { signal }),
  });
  try {
    const r = await get(fw.localPort, '/data/logdir');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { logdir: '/workspace/runs' });
  } finally {
    fw.dispose();
  }

  // A second TensorBoard while the first holds its port: another, free port, found by its name.
  const second = await startTensorBoard(openStream, tb!, '/workspace/other', { pollMs: 100, timeoutMs: 60_000 });
  if (second) started.push(second);
  assert.ok(second !== undefined && second !== port, `a second port (${second} vs ${port})`);
});

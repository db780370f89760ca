/**
 * Debugging in a simulator pod (see pod-debug.test.ts): a session that goes away while the program
 * is paused at a breakpoint stops the program in the pod — the SSH connection cut (the session
 * ends with a clear message, and a request in flight is answered), and the stream reset while the
 * agent stays up (the editor went away without a disconnect; this fails without
 * pod/debug_relay.py's stop: debugpy's program would live on, paused).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../agent/agent-fixture';
import { DapTestClient } from './dap-test-client';
import { begin, useDebugPod } from './debug-fixture';

const d = useDebugPod();

test('a connection cut while paused at a breakpoint ends the session with a clear message and stops the program in the pod', async () => {
  const { folder, file } = d.project(
    'paused.py',
    'import os, time\nopen("paused.pid", "w").write(str(os.getpid()))\nwhile True:\n    time.sleep(0.2)\n',
    'cut proj',
  );
  d.f.gate.mode = 'hold';
  const spec = d.launchSpec({ folder, file });
  const held = d.f.gate.next().then((h) => {
    h.pass();
    return h;
  });
  const s = await d.launch(spec);
  const conn = await held;
  d.f.gate.mode = 'pass';
  const c = new DapTestClient(s.bridge);
  try {
    await begin(c, file, { [file]: [{ line: 4 }] });
    const stop = await c.event('stopped');
    assert.equal(stop.body.reason, 'breakpoint');
    const pid = Number(fs.readFileSync(path.join(d.f.pod.hostDir, 'cut proj', 'paused.pid'), 'utf8'));
    assert.ok(pid > 0 && (await d.f.alive(pid)), 'the program runs (paused) in the pod');
    const pending = c.request('threads');
    conn.kill();
    const out = await c.event('output', (m) => /connection to pod .* was lost/.test(String(m.body?.output)));
    assert.match(String(out.body.output), /program in the pod was stopped/);
    await c.event('terminated');
    // A request in flight when the connection went gets an answer (VS Code would wait forever).
    const r = await pending;
    assert.ok(r.type === 'response');
    await waitFor('the paused program to be stopped in the pod', async () => !(await d.f.alive(pid)), 30_000);
  } finally {
    d.f.gate.mode = 'pass';
    s.bridge.dispose();
  }
});

test('the stream reset while paused (the editor went away without a disconnect) stops the program in the pod', async () => {
  const { folder, file } = d.project(
    'reset.py',
    'import os, time\nopen("reset.pid", "w").write(str(os.getpid()))\nwhile True:\n    time.sleep(0.2)\n',
    'reset proj',
  );
  const agent = d.f.client();
  const s = await d.launch({ ...d.launchSpec({ folder, file }), agent });
  const c = new DapTestClient(s.bridge);
  await begin(c, file, { [file]: [{ line: 4 }] });
  assert.equal((await c.event('stopped')).body.reason, 'breakpoint');
  const pid = Number(fs.readFileSync(path.join(d.f.pod.hostDir, 'reset proj', 'reset.pid'), 'utf8'));
  assert.ok(pid > 0 && (await d.f.alive(pid)));
  // The agent and its SSH connection stay up; only this stream is reset (its process group signalled).
  s.bridge.dispose();
  await waitFor('the paused program to be stopped in the pod', async () => !(await d.f.alive(pid)), 30_000);
  assert.equal(agent.state, 'running', 'the agent itself stayed up');
});

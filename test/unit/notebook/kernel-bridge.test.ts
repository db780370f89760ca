/**
 * The promises of pod/kernel_bridge.py, with a real IPython kernel in a simulator pod driven the
 * way the notebook controller drives it (startKernel, a KernelSession over the pod agent): a
 * connection cut in the middle of a printing cell loses no line and repeats none; a new session (a
 * reloaded window) reattaches to the running kernel and gets the running cell's output from its
 * start; an execute is run exactly once; with nobody attached it keeps a bounded tail; an idle
 * session lets the connection go. Cells, outputs, restarts, env and interpreters: kernel.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kernelIdFor, type KernelStarted } from '../../../src/kgpu/notebook';
import { startedKernel, waitFor, type KernelFixture } from './kernel-fixture';

let k: KernelFixture;
let started: KernelStarted;
before(async () => {
  ({ k, started } = await startedKernel());
});
after(async () => {
  await k?.stop();
});

/** 300 lines; after line 99 it waits for the file `go` (so the cell is surely still running when
 *  the test cuts the connection), then prints the rest at 100 a second. */
const printLoop = (go: string): string =>
  `import os, time\nfor i in range(300):\n    print(f"line {i}", flush=True)\n    time.sleep(0.01)\n    if i == 99:\n        while not os.path.exists(${JSON.stringify(go)}):\n            time.sleep(0.02)\nprint("done")`;
const goFile = (): string => `/workspace/nb/go-${Math.random().toString(16).slice(2)}`;
const EXPECTED = `${Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join('')}done\n`;

test('a connection cut in the middle of a printing cell: after the reattach no line is lost and none repeated', async () => {
  const { session, agent } = k.session(started);
  await session.ready;
  const go = goFile();
  const run = k.run(session, printLoop(go));
  await waitFor('some lines', () => run.stdout().includes('line 20'), 30_000);
  // The SSH side goes away (the agent and its channel): the stream fails, the session reconnects;
  // the cell goes on printing meanwhile.
  agent.closeAgent();
  await k.f.sh(`touch ${go}`);
  await run.done;
  assert.equal(run.stdout(), EXPECTED);
  assert.ok(session.attaches >= 2, `reattached (${session.attaches})`);
  // And once more with the session's own stream dropped (a network error on that stream).
  const go2 = goFile();
  const run2 = k.run(session, printLoop(go2));
  await waitFor('some lines', () => run2.stdout().includes('line 20'), 30_000);
  session.dropConnection();
  await k.f.sh(`touch ${go2}`);
  await run2.done;
  assert.equal(run2.stdout(), EXPECTED);
  session.dispose();
});

test('a new session (a reloaded window) reattaches to the running kernel and gets the running cell from its start', async () => {
  // The cell prints 100 lines, then waits for a file the test writes once the new session is
  // attached, then prints the rest: it is still running when the second session attaches.
  const go = `/workspace/nb/go-${Math.random().toString(16).slice(2)}`;
  const code = `import os, time\nfor i in range(300):\n    print(f"line {i}", flush=True)\n    if i == 99:\n        while not os.path.exists(${JSON.stringify(go)}):\n            time.sleep(0.02)\nprint("done")`;
  const first = k.session(started);
  await first.session.ready;
  const run = k.run(first.session, code);
  await waitFor('some lines', () => run.stdout().includes('line 50'), 30_000);
  first.session.dispose();
  first.agent.dispose();

  const again = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/a.ipynb'), '/workspace/nb');
  assert.equal(again.existing, true);
  const second = k.session(again);
  const replay = k.track(second.session, run.id);
  const hello = await second.session.ready;
  assert.deepEqual(
    hello.execs.map((e) => e.id),
    [run.id],
    'the running execution is named in the hello',
  );
  await k.f.sh(`touch ${go}`);
  await replay.done;
  assert.equal(replay.stdout(), EXPECTED);
  assert.equal(replay.records.filter((r) => r.ch === 'bridge' && r.type === 'execute').length, 1, 'replayed from the request on');
  second.session.dispose();
});

test('an execute written into a connection that drops at once runs exactly once', async () => {
  const { session } = k.session(started);
  await session.ready;
  await k.run(session, 'once = 0').done;
  const run = k.run(session, 'once += 1\nprint("ran", once)');
  session.dropConnection();
  await run.done;
  assert.equal(run.stdout(), 'ran 1\n');
  const check = k.run(session, 'print(once)');
  await check.done;
  assert.equal(check.stdout(), '1\n', 'not run a second time after the reattach');
  session.dispose();
});

test('with nobody attached the bridge keeps at most --max-bytes: the oldest records are dropped with a marker, the rest arrive in order', async () => {
  const small = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/small.ipynb'), '/workspace/nb', 40_000);
  const first = k.session(small);
  await first.session.ready;
  await k.f.sh('rm -f /tmp/nb-small-done');
  const run = k.run(first.session, 'for i in range(2000):\n    print(i, flush=True)\nopen("/tmp/nb-small-done", "w").close()');
  await waitFor('the request to reach the bridge', () => run.records.some((r) => r.type === 'execute'), 30_000);
  first.session.dispose();
  first.agent.dispose();
  await waitFor(
    'the cell to finish in the pod',
    async () => (await k.f.sh('test -f /tmp/nb-small-done && echo y || true')).trim() === 'y',
    60_000,
  );

  const second = k.session(small);
  const dropped: Record<string, unknown>[] = [];
  second.session.onRecord((r) => r.type === 'dropped' && dropped.push(r.content));
  const replay = k.track(second.session, run.id);
  await replay.done;
  assert.equal(dropped.length, 1, 'one marker');
  const lines = replay.stdout().trim().split('\n').map(Number);
  assert.equal(lines[lines.length - 1], 1999);
  assert.ok(lines.length < 2000, `some dropped (${lines.length} kept)`);
  assert.deepEqual(
    lines,
    Array.from({ length: lines.length }, (_, i) => 2000 - lines.length + i),
    'a contiguous tail, in order',
  );
  second.session.shutdown();
  await waitFor(
    'the small kernel to be shut down',
    async () => (await k.f.sh(`test -e ${small.socket} && echo y || echo n`)).trim() === 'n',
    30_000,
  );
});

test('an idle kernel does not hold the connection: the session parks after its quiet period (the agent has no stream open) and the next cell reattaches', async () => {
  const { session, agent } = k.session(started, { quietCloseMs: 300 });
  await session.ready;
  const run = k.run(session, 'import time\ntime.sleep(1)\nprint("slept")');
  await run.done;
  assert.equal(run.stdout(), 'slept\n', 'not parked while the cell ran');
  await waitFor('the session to park', () => session.state === 'parked');
  await waitFor('the agent to have no stream open', () => agent.openStreams === 0);
  assert.equal(session.attaches, 1, 'no reattach while the cell ran (it was not quiet)');
  const next = k.run(session, 'print("again")');
  await next.done;
  assert.equal(next.stdout(), 'again\n');
  assert.equal(session.attaches, 2);
  session.dispose();
});

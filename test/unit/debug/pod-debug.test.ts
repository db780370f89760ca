/**
 * Debugging a file in a simulator pod, DAP end to end: the test speaks DAP to the DapBridge (as
 * VS Code's inline adapter does), which speaks it over a pod agent stream to the real debugpy
 * (Debian's python3-debugpy) in the pod — launches as the editor makes them (startDebugJob: the
 * program a job under pod/debug_launch.py, attached through pod/debug_relay.py). A local folder whose file name has spaces and
 * quotes is synced as Run syncs it; breakpoints are set on the LOCAL path (one conditional, one on
 * a file that exists only in the pod, by its kgpu:// URI), hit in /workspace/<folder>, and the
 * stack shows the local path again; variables, evaluate, step, continue to the exit code; an
 * uncaught exception; a pod Python without debugpy says how to fix it; a wrapper kgpu.python;
 * library frames; attach to debugpy.listen(). A session that goes away while paused stops the
 * program in the pod: pod-debug-stop.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startPodDebug } from '../../../src/kgpu/debug';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { syncUp } from '../../../src/kgpu/transfer/sync';
import { waitFor } from '../agent/agent-fixture';
import { DapTestClient } from './dap-test-client';
import { begin, locals, topFrame, useDebugPod } from './debug-fixture';

const d = useDebugPod();

const SCRIPT = `import os, sys
sys.path.insert(0, "/workspace/podlib")
import podhelper

def square(v):
    return v * v

total = 0
for i in range(3):
    total += square(i)
secret = os.environ.get("KGPU_TEST_SECRET")
with open("pid.txt", "w") as fh:
    fh.write(str(os.getpid()))
print("secret-ok" if secret == "s3cr3t value" else "secret-missing", flush=True)
marker = podhelper.helper(total)
print("total", total, "marker", marker, flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
`;
const LOOP_LINE = 10; // total += square(i)
const MARKER_LINE = 15;

test('launch: a breakpoint on the local path hits in /workspace/<folder>; variables, evaluate, step, a pod-only file, continue to the exit code', async () => {
  d.f.writeFile('podlib/podhelper.py', Buffer.from('def helper(x):\n    y = x * 10\n    return y\n'));
  const { folder, file } = d.project(`it's a "quoted" name.py`, SCRIPT);
  const secret = 's3cr3t value';
  const s = await d.launch(d.launchSpec({ folder, file }, { args: ['7'], env: { KGPU_TEST_SECRET: secret } }));
  assert.equal(s.remoteProgram, `/workspace/my proj/it's a "quoted" name.py`);
  assert.equal(s.synced?.uploadedFiles, 1);
  const c = new DapTestClient(s.bridge);
  const podHelper = `kgpu://${d.f.pod.podId}/workspace/podlib/podhelper.py`;
  try {
    const [bps, helperBps] = await begin(c, file, {
      [file]: [{ line: LOOP_LINE, condition: 'i == 2' }, { line: MARKER_LINE }],
      [podHelper]: [{ line: 2 }],
    });
    assert.deepEqual(
      bps.breakpoints.map((b: any) => b.verified),
      [true, true],
    );
    assert.equal(helperBps.breakpoints[0].verified, true);

    // The conditional breakpoint: only when i == 2.
    const stop1 = await c.event('stopped');
    assert.equal(stop1.body.reason, 'breakpoint');
    const threadId = stop1.body.threadId as number;
    const f1 = await topFrame(c, threadId);
    assert.equal(f1.line, LOOP_LINE);
    assert.equal(f1.source.path, file, 'the frame names the local file');
    const v1 = await locals(c, f1.id);
    assert.equal(v1.get('i'), '2');
    assert.equal(v1.get('total'), '1');
    const ev = await c.ok('evaluate', { expression: 'total + 100', frameId: f1.id, context: 'repl' });
    assert.equal(ev.result, '101');
    const cwd = await c.ok('evaluate', { expression: 'os.getcwd()', frameId: f1.id, context: 'repl' });
    assert.equal(cwd.result, `'/workspace/my proj'`);

    // Step over: back to the loop's header.
    await c.ok('next', { threadId });
    const stop2 = await c.event('stopped');
    assert.equal(stop2.body.reason, 'step');
    assert.equal((await topFrame(c, threadId)).line, LOOP_LINE - 1);

    // On to the marker line: the program's output arrived as DAP output on the way.
    await c.ok('continue', { threadId });
    assert.equal((await c.event('stopped')).body.reason, 'breakpoint');
    const f3 = await topFrame(c, threadId);
    assert.equal(f3.line, MARKER_LINE);
    await waitFor('the program output in the debug console', () => c.output().includes('secret-ok'));
    // kgpu.env reached the program, and no command line in the pod holds it.
    const cmdlines = await d.f.sh(`for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done`);
    assert.ok(cmdlines.includes('debugpy'), 'the adapter runs');
    assert.ok(!cmdlines.includes('s3cr3t'), 'the secret is on no command line in the pod');

    // Step into the pod-only helper's breakpoint: its frame is a kgpu:// URI.
    await c.ok('continue', { threadId });
    const stop4 = await c.event('stopped');
    assert.equal(stop4.body.reason, 'breakpoint');
    const f4 = await topFrame(c, threadId);
    assert.equal(f4.source.path, podHelper);
    assert.equal(f4.line, 2);

    await c.ok('continue', { threadId });
    const exited = await c.event('exited');
    assert.equal(exited.body.exitCode, 7);
    await c.event('terminated');
    assert.match(c.output(), /total 5 marker 50/);
    await c.request('disconnect', { terminateDebuggee: true });
  } finally {
    s.bridge.dispose();
  }
});

test('launch: an uncaught exception stops with its message; continuing ends with exit code 1', async () => {
  const { folder, file } = d.project('boom.py', 'def fail(n):\n    raise ValueError(f"bad value {n}")\n\nfail(42)\n');
  const s = await d.launch(d.launchSpec({ folder, file }));
  const c = new DapTestClient(s.bridge);
  try {
    await begin(c, file, {}, ['uncaught']);
    const stop = await c.event('stopped');
    assert.equal(stop.body.reason, 'exception');
    const info = await c.ok('exceptionInfo', { threadId: stop.body.threadId });
    assert.match(String(info.description), /bad value 42/);
    assert.match(String(info.exceptionId), /ValueError/);
    const frame = await topFrame(c, stop.body.threadId);
    assert.equal(frame.source.path, file);
    assert.equal(frame.line, 2);
    await c.ok('continue', { threadId: stop.body.threadId });
    const exited = await c.event('exited');
    assert.equal(exited.body.exitCode, 1);
    await c.event('terminated');
  } finally {
    s.bridge.dispose();
  }
});

test('a pod Python without debugpy: the launch fails saying how to install it', async () => {
  await d.f.sh('python3 -m venv --without-pip /tmp/kgpu-nodebugpy');
  const { folder, file } = d.project('hello.py', 'print("hi")\n', 'nodbg proj');
  await assert.rejects(
    d.launch(d.launchSpec({ folder, file }, { python: '/tmp/kgpu-nodebugpy/bin/python' })),
    /before debugpy listened in pod [\s\S]*debugpy is not installed for \/tmp\/kgpu-nodebugpy\/bin\/python in this pod\. Install it \(`\/tmp\/kgpu-nodebugpy\/bin\/python -m pip install debugpy`/,
  );
});

test('attach: to a job that called debugpy.listen(), over an agent TCP stream; the breakpoint on the local path hits', async () => {
  const source =
    'import debugpy, sys\nhost, port = debugpy.listen(("127.0.0.1", 0))\nopen("port.txt", "w").write(str(port))\ndebugpy.wait_for_client()\nvalue = 41\nvalue += 1\nprint("value", value, flush=True)\n';
  const { folder, file } = d.project('serve.py', source, 'attach proj');
  // The job, as Run would start it (detached), from the synced copy.
  await syncUp(podCommands(d.f.pod.connector()), folder, '/workspace/attach proj');
  fs.rmSync(path.join(d.f.pod.hostDir, 'attach proj', 'port.txt'), { force: true });
  await d.f.sh(`cd '/workspace/attach proj' && setsid -f python serve.py > out.log 2>&1`);
  const port = await waitFor(
    'the port debugpy listens on',
    () => {
      const p = path.join(d.f.pod.hostDir, 'attach proj', 'port.txt');
      return fs.existsSync(p) && Number(fs.readFileSync(p, 'utf8')) > 0 ? Number(fs.readFileSync(p, 'utf8')) : undefined;
    },
    30_000,
  );
  const s = await startPodDebug({
    request: 'attach',
    podId: d.f.pod.podId,
    agent: d.f.client(),
    python: 'python',
    port,
    localRoot: folder,
    remoteRoot: '/workspace/attach proj',
  });
  const c = new DapTestClient(s.bridge);
  try {
    await c.ok('initialize', { adapterID: 'kgpu', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const attached = c.request('attach', { type: 'kgpu', request: 'attach', name: 'attach', port });
    await c.event('initialized');
    const bps = await c.ok('setBreakpoints', { source: { path: file }, breakpoints: [{ line: 6 }] });
    assert.equal(bps.breakpoints[0].verified, true);
    await c.ok('configurationDone');
    assert.ok((await attached).success);
    const stop = await c.event('stopped');
    const frame = await topFrame(c, stop.body.threadId);
    assert.equal(frame.source.path, file);
    assert.equal((await locals(c, frame.id)).get('value'), '41');
    await c.ok('continue', { threadId: stop.body.threadId });
    await waitFor('the job to finish', async () => (await d.f.sh(`cat '/workspace/attach proj/out.log'`)).includes('value 42'), 30_000);
    await c.request('disconnect', {});
  } finally {
    s.bridge.dispose();
  }
});

test('attach to a port where nothing listens says how to start the program', async () => {
  const free = Number(await d.f.sh(`python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"`));
  await assert.rejects(
    startPodDebug({ request: 'attach', podId: d.f.pod.podId, agent: d.f.client(), python: 'python', port: free }),
    /Nothing in pod .* listens on 127\.0\.0\.1:\d+ .*debugpy\.listen\(\d+\)/,
  );
});

test('launch with a multi-word kgpu.python (a wrapper such as `env … python3`, `uv run python`): the wrapper runs the program', async () => {
  const { folder, file } = d.project(
    'wrapped.py',
    'import os, sys\nwrapped = os.environ.get("KGPU_WRAPPED")\nprint("wrapped", wrapped, flush=True)\nsys.exit(3)\n',
    'wrap proj',
  );
  // `env NAME=value python3`: debugpy used to start its launcher with the first word alone (`env`).
  const s = await d.launch(d.launchSpec({ folder, file }, { python: 'env KGPU_WRAPPED=yes python3' }));
  const c = new DapTestClient(s.bridge);
  try {
    await begin(c, file, { [file]: [{ line: 3 }] });
    const stop = await c.event('stopped');
    assert.equal(stop.body.reason, 'breakpoint');
    const frame = await topFrame(c, stop.body.threadId);
    assert.equal(frame.source.path, file);
    assert.equal((await locals(c, frame.id)).get('wrapped'), `'yes'`, 'the program ran through the wrapper');
    await c.ok('continue', { threadId: stop.body.threadId });
    assert.equal((await c.event('exited')).body.exitCode, 3);
    await c.event('terminated');
    assert.match(c.output(), /wrapped yes/);
    assert.ok(
      !c.messages.some((m) => m.type === 'event' && String(m.event).startsWith('kgpu')),
      'the pod hello is not passed to the editor',
    );
  } finally {
    s.bridge.dispose();
  }
});

test("library frames (the pod's standard library) come as read-only kgpu-lib:// sources, the project's as local paths", async () => {
  const { folder, file } = d.project(
    'lib.py',
    'import json\n\ndef hook(d):\n    return d\n\njson.loads(\'{"a": 1}\', object_hook=hook)\n',
    'lib proj',
  );
  const s = await d.launch(d.launchSpec({ folder, file }, { justMyCode: false }));
  const c = new DapTestClient(s.bridge);
  try {
    await begin(c, file, { [file]: [{ line: 4 }] });
    const stop = await c.event('stopped');
    const st = await c.ok('stackTrace', { threadId: stop.body.threadId, startFrame: 0, levels: 20 });
    const paths: string[] = st.stackFrames.map((fr: any) => String(fr.source?.path));
    assert.equal(paths[0], file);
    const lib = st.stackFrames.find((fr: any) => /\/json\/__init__\.py$/.test(String(fr.source?.path)));
    assert.ok(lib, `a json frame in ${paths.join(', ')}`);
    assert.match(lib.source.path, new RegExp(`^kgpu-lib://${d.f.pod.podId}/.+/json/__init__\\.py$`));
    assert.equal(lib.source.presentationHint, 'deemphasize');
    await c.ok('continue', { threadId: stop.body.threadId });
    await c.event('terminated');
  } finally {
    s.bridge.dispose();
  }
});

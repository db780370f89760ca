/**
 * A real IPython kernel (Debian's ipykernel) in a simulator pod, driven the way the notebook
 * controller drives it: pod/kernel_bridge.py started detached by startKernel, a KernelSession
 * over the pod agent. Every output kind, input(), interrupt, restart, kgpu.env and the project's
 * interpreter (at the start and on a restart). The promises of the bridge (a cut connection, a
 * reloaded window, its buffer, parking): kernel-bridge.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fallbackMessage, kernelIdFor, type KernelRecord, type KernelStarted } from '../../../src/kgpu/notebook';
import { startedKernel, waitFor, type KernelFixture } from './kernel-fixture';

let k: KernelFixture;
let started: KernelStarted;
before(async () => {
  ({ k, started } = await startedKernel());
});
after(async () => {
  await k?.stop();
});

const ESC = '\u001b[';

test('a cell runs in the notebook folder: stdout, execute_result, execution count; the same id finds the same kernel', async () => {
  assert.equal(started.existing, false);
  const { session } = k.session(started);
  const hello = await session.ready;
  assert.equal(hello.cwd, '/workspace/nb');
  const run = k.run(session, 'import os, helper\nprint(os.getcwd(), helper.GREETING)\n1+1');
  await run.done;
  assert.equal(run.stdout(), '/workspace/nb hello from helper\n');
  const result = run.outputs.outputs.find((o) => o.kind === 'data');
  assert.deepEqual(result && result.kind === 'data' ? result.data : undefined, { 'text/plain': '2' });
  assert.equal(run.outputs.status, 'ok');
  assert.equal(typeof run.outputs.executionCount, 'number');
  const again = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/a.ipynb'), '/workspace/nb');
  assert.deepEqual(again, { ...started, existing: true });
  session.dispose();
});

test('outputs: HTML, JSON, a matplotlib PNG, an error with its coloured traceback, clear_output, \\r progress, stderr', async () => {
  const { session } = k.session(started);
  const html = k.run(
    session,
    'from IPython.display import HTML, JSON, display\ndisplay(HTML("<b>bold</b>"))\ndisplay(JSON({"a": [1, 2]}))',
  );
  await html.done;
  const bundles = html.outputs.outputs.map((o) => (o.kind === 'data' ? o.data : undefined));
  assert.equal(bundles[0]?.['text/html'], '<b>bold</b>');
  assert.deepEqual(bundles[1]?.['application/json'], { a: [1, 2] });

  const plot = k.run(session, 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()');
  await plot.done;
  const png = plot.outputs.outputs.find((o) => o.kind === 'data' && typeof o.data['image/png'] === 'string');
  assert.ok(png && png.kind === 'data', `a PNG output: ${JSON.stringify(plot.records.map((r) => r.type))}`);
  const bytes = Buffer.from(png.data['image/png'] as string, 'base64');
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

  const err = k.run(session, 'def f():\n    return 1 / 0\nf()');
  await err.done;
  assert.equal(err.outputs.status, 'error');
  const e = err.outputs.outputs.find((o) => o.kind === 'error');
  assert.ok(e && e.kind === 'error');
  assert.equal(e.ename, 'ZeroDivisionError');
  assert.ok(
    e.traceback.some((l) => l.includes(ESC)),
    'ANSI colours kept',
  );

  const plain = e.traceback.join('\n').replace(/\u001b\[[0-9;]*m/g, '');
  assert.ok(plain.includes('return 1 / 0'), plain);

  const clear = k.run(session, 'from IPython.display import clear_output\nprint("gone")\nclear_output()\nprint("kept")');
  await clear.done;
  assert.deepEqual(clear.outputs.outputs, [{ kind: 'stream', name: 'stdout', text: 'kept\n' }]);

  const progress = k.run(
    session,
    'import sys\nfor i in range(5):\n    sys.stdout.write(f"\\r{i * 25}%")\n    sys.stdout.flush()\nprint()\nprint("warn", file=sys.stderr)',
  );
  await progress.done;
  const streams = progress.outputs.outputs.filter((o) => o.kind === 'stream');
  assert.deepEqual(streams, [
    { kind: 'stream', name: 'stdout', text: '100%\n' },
    { kind: 'stream', name: 'stderr', text: 'warn\n' },
  ]);
  session.dispose();
});

test('input() is answered through the session', async () => {
  const { session } = k.session(started);
  const run = k.run(session, 'name = input("name? ")\nprint("hi", name)');
  await waitFor('the input request', () => run.records.find((r) => r.ch === 'stdin' && r.type === 'input_request'));
  assert.equal(run.records.find((r) => r.type === 'input_request')?.content.prompt, 'name? ');
  session.input('bob');
  await run.done;
  assert.equal(run.stdout(), 'hi bob\n');
  session.dispose();
});

test('interrupt stops a time.sleep loop (KeyboardInterrupt); the kernel keeps its state', async () => {
  const { session } = k.session(started);
  await k.run(session, 'state = 7').done;
  const run = k.run(session, 'import time\nprint("looping", flush=True)\nwhile True:\n    time.sleep(0.05)');
  await waitFor('the loop to print', () => run.stdout().includes('looping'), 30_000);
  session.interrupt();
  await run.done;
  assert.equal(run.outputs.status, 'error');
  const e = run.outputs.outputs.find((o) => o.kind === 'error');
  assert.equal(e?.kind === 'error' ? e.ename : undefined, 'KeyboardInterrupt');
  const after = k.run(session, 'print(state)');
  await after.done;
  assert.equal(after.stdout(), '7\n');
  session.dispose();
});

test('restart clears the state: a new kernel process, the old variable gone', async () => {
  const { session } = k.session(started);
  const before = await session.ready;
  await k.run(session, 'x = 41').done;
  const restarted = new Promise<Record<string, unknown>>((resolve) => {
    session.onRecord((r) => r.ch === 'bridge' && r.type === 'restarted' && resolve(r.content));
  });
  session.restart();
  const info = await restarted;
  assert.notEqual(info.pid, before.kernel_pid, 'a new kernel process');
  const run = k.run(session, 'x + 1');
  await run.done;
  const e = run.outputs.outputs.find((o) => o.kind === 'error');
  assert.equal(e?.kind === 'error' ? e.ename : undefined, 'NameError');
  session.dispose();
});

test('kgpu.env reaches the kernel through stdin: in its os.environ, in no command line in the pod', async () => {
  const secret = `s3cret-${Math.random().toString(16).slice(2)}`;
  const withEnv = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/env.ipynb'), '/workspace/nb', undefined, {
    KGPU_TEST_SECRET: secret,
    'BAD=NAME': 'x',
  });
  assert.equal(withEnv.existing, false);
  const { session } = k.session(withEnv);
  const run = k.run(session, 'import os\nprint(os.environ.get("KGPU_TEST_SECRET"), "KGPU_KERNEL_ENV" in os.environ)');
  await run.done;
  assert.equal(run.stdout(), `${secret} False\n`);
  const cmdlines = await k.f.sh("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done 2>/dev/null");
  assert.ok(cmdlines.includes('kernel_bridge_'), 'the bridge is listed');
  assert.ok(!cmdlines.includes(secret), 'the secret is in no command line');
  session.shutdown();
  await waitFor(
    'the kernel to be shut down',
    async () => (await k.f.sh(`test -e ${withEnv.socket} && echo y || echo n`)).trim() === 'n',
    30_000,
  );
  session.dispose();
});

/** Shut the kernel down and wait until its bridge is gone. */
async function shutDown(session: import('../../../src/kgpu/notebook').KernelSession, s: KernelStarted): Promise<void> {
  session.shutdown();
  await waitFor('the kernel to be shut down', async () => (await k.f.sh(`test -e ${s.socket} && echo y || echo n`)).trim() === 'n', 30_000);
  session.dispose();
}

test("the kernel runs the project's interpreter (a venv, through a wrapper command), not the pod's python3", async () => {
  // A venv that sees the system's ipykernel, like a project venv with ipykernel among its packages.
  await k.f.sh('python3 -m venv --system-site-packages --without-pip /tmp/kgpu-nbvenv');
  const python = 'env KGPU_NB_WRAPPED=yes /tmp/kgpu-nbvenv/bin/python';
  const s = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/venv.ipynb'), '/workspace/nb', undefined, undefined, python);
  assert.equal(s.fallback, undefined);
  const { session } = k.session(s);
  const run = k.run(session, 'import os, sys\nprint(sys.prefix, os.environ.get("KGPU_NB_WRAPPED"))');
  await run.done;
  assert.equal(run.stdout(), '/tmp/kgpu-nbvenv yes\n');
  assert.deepEqual(s.python, ['/usr/bin/env', 'KGPU_NB_WRAPPED=yes', '/tmp/kgpu-nbvenv/bin/python']);
  await shutDown(session, s);
});

test("an interpreter without ipykernel: the kernel runs the pod's python3 and the start says why and how to add it", async () => {
  await k.f.sh('python3 -m venv --without-pip /tmp/kgpu-nbbare');
  const s = await k.start(
    kernelIdFor(k.f.pod.podId, '/workspace/nb/bare.ipynb'),
    '/workspace/nb',
    undefined,
    undefined,
    '/tmp/kgpu-nbbare/bin/python',
  );
  assert.equal(s.fallback?.python, '/tmp/kgpu-nbbare/bin/python');
  assert.match(s.fallback?.error ?? '', /No module named '?ipykernel/);
  const message = fallbackMessage(s.fallback!);
  assert.match(
    message,
    /has no ipykernel.*runs the pod's python3.*requirements\.txt.*\/tmp\/kgpu-nbbare\/bin\/python -m pip install ipykernel/s,
  );
  const { session } = k.session(s);
  const run = k.run(session, 'import sys\nprint(sys.prefix == sys.base_prefix)');
  await run.done;
  assert.equal(run.stdout(), 'True\n', "the pod's own python3, not the venv");
  await shutDown(session, s);
});

// A restart onto another interpreter and back, each followed AT ONCE by a cell: the cell's iopub
// messages (its output, the idle that ends it) arrive only if the bridge waited for iopub as well
// as shell before it said "restarted" (a SUB socket misses what is published before its
// subscription reaches the new kernel; under load the first cell then never completed).
test('restart starts the kernel with the current kgpu.env (sent in the stream, never on a command line) and interpreter, and back', async (t) => {
  const first = `one-${Math.random().toString(16).slice(2)}`;
  const second = `two-${Math.random().toString(16).slice(2)}`;
  const third = `three-${Math.random().toString(16).slice(2)}`;
  const s = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/restart-env.ipynb'), '/workspace/nb', undefined, {
    KGPU_NB_VALUE: first,
  });
  const { session } = k.session(s);
  const log = (): Promise<string> => k.f.sh(`cat ${s.socket.replace(/\/s$/, '/log')}`).catch((e: unknown) => String(e));
  // Bounded: a restart or a cell that never answers fails with the session's state and the
  // bridge's log, rather than hanging the run.
  const bound = async <T>(p: Promise<T>, what: string): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 120_000)));
    const r = await Promise.race([p, late]).finally(() => clearTimeout(timer));
    if (r === 'late') throw new Error(`${what}: no answer in 120 s (session ${session.state})\n--- the bridge's log ---\n${await log()}`);
    return r as T;
  };
  const print = 'import os, sys\nprint(os.environ.get("KGPU_NB_VALUE"), sys.prefix)';
  const runPrint = async (what: string): Promise<string> => {
    const run = k.run(session, print);
    await bound(run.done, what);
    return run.stdout();
  };
  const restart = async (options: { env: Record<string, string>; python: string[] }): Promise<Record<string, unknown>> => {
    const restarted = new Promise<Record<string, unknown>>((resolve, reject) => {
      const sub = session.onRecord((r) => {
        if (r.ch !== 'bridge' || (r.type !== 'restarted' && r.type !== 'died')) return;
        sub.dispose();
        if (r.type === 'restarted') resolve(r.content);
        else reject(new Error(`the restarted kernel died: ${JSON.stringify(r.content)}`));
      });
    });
    session.restart(options);
    return bound(restarted, 'the restart');
  };

  assert.match(await runPrint('the first cell'), new RegExp(`^${first} `));
  await k.f.sh('python3 -m venv --system-site-packages --without-pip /tmp/kgpu-nbvenv');
  const info = await restart({ env: { KGPU_NB_VALUE: second }, python: ['/tmp/kgpu-nbvenv/bin/python'] });
  assert.deepEqual(info.python, ['/tmp/kgpu-nbvenv/bin/python']);
  assert.equal(await runPrint('the cell after the restart onto the venv'), `${second} /tmp/kgpu-nbvenv\n`);
  const cmdlines = await k.f.sh("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done 2>/dev/null");
  assert.ok(!cmdlines.includes(second), 'the new value is in no command line');

  // And back onto the pod's python3.
  const back = await restart({ env: { KGPU_NB_VALUE: third }, python: ['python3'] });
  assert.notEqual(back.pid, info.pid, 'a new kernel process');
  assert.equal(await runPrint('the cell after the restart onto python3'), `${third} /usr\n`);
  t.diagnostic(
    (await log())
      .split('\n')
      .filter((l) => l.startsWith('kernel ready'))
      .join(' | '),
  );
  await shutDown(session, s);
});

test(
  'a restart whose kernel cannot start says so ("died"); the bridge lives on and the next restart gives a working kernel',
  { timeout: 180_000 },
  async () => {
    const s = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/restart-fail.ipynb'), '/workspace/nb');
    const { session } = k.session(s);
    await session.ready;
    const next = (): Promise<KernelRecord> =>
      new Promise((resolve) => {
        const sub = session.onRecord((r) => {
          if (r.ch !== 'bridge' || (r.type !== 'restarted' && r.type !== 'died')) return;
          sub.dispose();
          resolve(r);
        });
      });
    // An interpreter that imports ipykernel (the bridge's check) but exits when started as a kernel.
    const died = next();
    session.restart({ python: ['/bin/sh', '-c', 'case "$1" in -c) exec python3 "$@";; *) exit 3;; esac', 'x'] });
    const d = await died;
    assert.equal(d.type, 'died');
    assert.match(String(d.content.message), /did not restart/);
    const restarted = next();
    session.restart({ python: ['python3'] });
    assert.equal((await restarted).type, 'restarted');
    const run = k.run(session, 'print("alive")');
    await run.done;
    assert.equal(run.stdout(), 'alive\n');
    await shutDown(session, s);
  },
);

/**
 * A warm run (forked by the pod's fork server, with torch and numpy preloaded) and a cold run
 * (`python script.py` as the job wrapper always started it) of the same script give the same log,
 * byte for byte, the same end (exit code or signal) and the same job record — for output on both
 * streams, tracebacks, sys.exit, signals, multiprocessing (fork and spawn), argv, the environment
 * and everything a fresh interpreter shows a script, and a project module edited between runs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { outcome, startWarmPod, type RunSpec, type WarmPod } from './warm-fixture';

const DIR = '/workspace/proj';
/** kgpu.env of every run (the fork server has the environment of the runs it serves). */
// Names the start command's shell could have used for itself (job-wrapper.ts, launch.ts): the job
// must get them as set here, and the start must not be steered by them.
const ENV = {
  FOO: 'bar baz',
  WITH_NEWLINE: 'a\nb',
  cwd: '/nowhere',
  id: 'u-id',
  d: 'u-d',
  e: 'u-e',
  l: 'u-l',
  F: 'u-F',
  p: 'u-p',
  m: 'u-m',
};
let w: WarmPod;

const SCRIPTS: Record<string, string> = {
  'plain.py': [
    'import sys',
    'print("hello", "é✓ 日本")',
    'sys.stderr.write("to stderr\\n")',
    'for i in range(3):',
    '    print(f"\\rstep {i}", end="", flush=True)',
    'print()',
    'print(repr(__name__), __file__, sys.argv, sys.path[0])',
    'print(list(globals()), type(__builtins__).__name__, type(__loader__).__name__, __spec__, __cached__, __package__)',
    'import atexit, threading',
    'atexit.register(lambda: print("atexit ran", __name__))',
    't = threading.Thread(target=lambda: print("thread done after main"))',
    'print("main done")',
    't.start()',
    '',
  ].join('\n'),
  'raises.py': [
    'def inner(x):',
    '    return 1 / x',
    '',
    'def outer():',
    '    try:',
    '        inner(0)',
    '    except ZeroDivisionError as e:',
    '        raise ValueError("bad value") from e',
    '',
    'print("before")',
    'outer()',
    '',
  ].join('\n'),
  'exit3.py': 'import sys\nprint("exiting with 3")\nsys.exit(3)\n',
  'exitmsg.py': 'import sys\nsys.exit("fatal: a message instead of a code")\n',
  'kbi.py': 'print("interrupted")\nraise KeyboardInterrupt\n',
  'sigterm.py': 'import os, signal\nprint("terminating myself", flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n',
  'syntax.py': 'print("never")\nx = (\n',
  'argv_env.py': [
    'import os, signal, sys',
    'print("argv", sys.argv, getattr(sys, "orig_argv", None), sys.executable)',
    'print("FOO", repr(os.environ.get("FOO")), "NEWLINE", repr(os.environ.get("WITH_NEWLINE")))',
    'print("environ", sorted(os.environ.items()))',
    'print("names", [os.environ.get(k) for k in ("cwd", "id", "d", "e", "l", "F", "p", "m")])',
    'print("path", sys.path, "cwd", os.getcwd(), "umask", oct(os.umask(0o22)))',
    'print("flags", sys.flags)',
    'print("signals", {s.name: str(signal.getsignal(s)) for s in signal.Signals if signal.getsignal(s) is not signal.SIG_DFL})',
    // (Not SigCgt: glibc's own handler for signal 33 is there once any thread was created, as in a
    // cold run of a script that imports numpy.)
    'print([l.strip() for l in open("/proc/self/status") if l.startswith(("SigIgn", "SigBlk"))])',
    'print("parent", open(f"/proc/{os.getppid()}/comm").read().strip(), "leader", os.getpid() == os.getpgid(0), "session", os.getsid(0) == os.getppid())',
    'print("comm", open("/proc/self/comm").read().strip(), "stdio", [f.isatty() for f in (sys.stdin, sys.stdout, sys.stderr)], sys.stdout.encoding, sys.stdout.line_buffering, sys.stdin.read())',
    'print("fds", sorted(os.listdir("/proc/self/fd"), key=int))  # nothing of the fork server\'s leaks in',
    'os.setsid()  # works: like a cold run, the script is not a process group leader',
    'print("setsid ok")',
    '',
  ].join('\n'),
  'mp.py': [
    'import multiprocessing as mp, os',
    '',
    'def square(x):',
    '    return x * x',
    '',
    'def child(q, tag):',
    '    q.put((tag, __name__, os.getcwd()))',
    '',
    'if __name__ == "__main__":',
    '    for method in ("fork", "spawn"):',
    '        ctx = mp.get_context(method)',
    '        with ctx.Pool(2) as pool:',
    '            print(method, pool.map(square, range(6)), flush=True)',
    '        q = ctx.Queue()',
    '        p = ctx.Process(target=child, args=(q, method))',
    '        p.start()',
    '        print(method, q.get(), flush=True)',
    '        p.join()',
    '        print(method, "exitcode", p.exitcode, flush=True)',
    '',
  ].join('\n'),
  'uses_helper.py': 'import helper\nprint("helper says", helper.VALUE, helper.__file__)\n',
  'helper.py': 'VALUE = "version 1"\n',
};

before(async () => {
  w = await startWarmPod();
  for (const [name, text] of Object.entries(SCRIPTS)) w.write(`${DIR}/${name}`, text);
  // A server that has the heavy packages in: every warm run below forks it.
  const r = await w.ensure({ cwd: DIR, script: 'plain.py', env: ENV }, ['torch', 'numpy']);
  assert.equal(r.state, 'ready', JSON.stringify(r));
});

after(async () => {
  await w?.stop();
});

async function both(spec: Omit<RunSpec, 'warm'>): Promise<{ cold: unknown; warm: unknown }> {
  const cold = await w.run({ env: ENV, ...spec, warm: false });
  const warm = await w.run({ env: ENV, ...spec, warm: true });
  assert.deepEqual(warm.mode, { warm: true }, `${spec.script} ran warm`);
  return { cold: outcome(cold), warm: outcome(warm) };
}

test('a plain script: both streams, \\r progress, UTF-8, __main__, atexit and a thread that outlives the main code', async () => {
  const { cold, warm } = await both({ cwd: DIR, script: 'plain.py' });
  assert.deepEqual(warm, cold);
  assert.match((cold as { log: string }).log, /thread done after main[\s\S]*atexit ran __main__/);
});

test('an uncaught exception: the same traceback (chained, no fork server frames), exit code 1', async () => {
  const { cold, warm } = await both({ cwd: DIR, script: 'raises.py' });
  assert.deepEqual(warm, cold);
  const log = (warm as { log: string }).log;
  assert.match(log, /^before\nTraceback \(most recent call last\):\n {2}File "\/workspace\/proj\/raises.py", line 6, in outer/);
  assert.match(log, /The above exception was the direct cause[\s\S]*ValueError: bad value\n$/);
  assert.doesNotMatch(log, /forkserver|runpy/);
  assert.deepEqual((warm as { status: unknown }).status, { state: 'exited', exitCode: 1 });
});

test('sys.exit(3) and sys.exit("message"): the same exit codes and message', async () => {
  const a = await both({ cwd: DIR, script: 'exit3.py' });
  assert.deepEqual(a.warm, a.cold);
  assert.deepEqual((a.warm as { status: unknown }).status, { state: 'exited', exitCode: 3 });
  const b = await both({ cwd: DIR, script: 'exitmsg.py' });
  assert.deepEqual(b.warm, b.cold);
  assert.deepEqual((b.warm as { status: unknown; log: string }).log, 'fatal: a message instead of a code\n');
});

test('KeyboardInterrupt, a signal to itself (the shell\'s "Terminated") and a syntax error end the same way', async () => {
  const ends: Record<string, unknown> = {};
  for (const script of ['kbi.py', 'sigterm.py', 'syntax.py']) {
    const { cold, warm } = await both({ cwd: DIR, script });
    assert.deepEqual(warm, cold, script);
    ends[script] = warm;
  }
  assert.deepEqual(ends['sigterm.py'], {
    ...(ends['sigterm.py'] as object),
    log: 'terminating myself\nTerminated\n',
    status: { state: 'killed', signal: 'SIGTERM', stoppedByUser: false, possiblyOom: false },
  });
  assert.deepEqual((ends['kbi.py'] as { status: unknown }).status, {
    state: 'killed',
    signal: 'SIGINT',
    stoppedByUser: false,
    possiblyOom: false,
  });
  assert.match(
    (ends['syntax.py'] as { log: string }).log,
    /^ {2}File "\/workspace\/proj\/syntax.py", line 2\n {4}x = \(\n {8}\^\nSyntaxError: '\(' was never closed\n$/,
  );
});

test('argv, the environment (kgpu.env values with spaces and newlines), paths, flags, signals, stdio and process layout', async () => {
  const spec = { cwd: DIR, script: 'argv_env.py', args: ['--lr', '0.1', 'two words', "it's"] };
  const { cold, warm } = await both(spec);
  assert.deepEqual(warm, cold);
  const log = (warm as { log: string }).log;
  assert.match(log, /argv \['argv_env.py', '--lr', '0.1', 'two words', "it's"\] \['python', 'argv_env.py'/);
  assert.match(log, /FOO 'bar baz' NEWLINE 'a\\nb'/);
  assert.match(log, /names \['\/nowhere', 'u-id', 'u-d', 'u-e', 'u-l', 'u-F', 'u-p', 'u-m'\]/);
  assert.match(log, /parent sh leader False/);
  assert.match(log, /setsid ok/);
});

test('multiprocessing with the fork and the spawn start methods', async () => {
  const { cold, warm } = await both({ cwd: DIR, script: 'mp.py' });
  assert.deepEqual(warm, cold);
  assert.match(
    (warm as { log: string }).log,
    /fork \[0, 1, 4, 9, 16, 25\][\s\S]*spawn \('spawn', '__mp_main__', '\/workspace\/proj'\)\nspawn exitcode 0\n$/,
  );
});

test('a project module edited between warm runs: the edit is seen (project code is never preloaded)', async () => {
  const first = await both({ cwd: DIR, script: 'uses_helper.py' });
  assert.deepEqual(first.warm, first.cold);
  assert.match((first.warm as { log: string }).log, /helper says version 1 \/workspace\/proj\/helper.py/);
  w.write(`${DIR}/helper.py`, 'VALUE = "version 2, edited"\n');
  const second = await both({ cwd: DIR, script: 'uses_helper.py' });
  assert.deepEqual(second.warm, second.cold);
  assert.match((second.warm as { log: string }).log, /helper says version 2, edited/);
});

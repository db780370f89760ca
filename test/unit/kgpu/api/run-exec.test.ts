/**
 * kgpu: Run Command… editor-free (src/kgpu/api/exec-request.ts) against the simulator's
 * POST /pods/{id}/exec: argv parsing and operator refusal, output / exit code / duration, the
 * 1 MiB truncation and the timeout said plainly, > 1 MiB stdin refused before sending.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  buildExecRequest,
  ExecInputError,
  formatExecReport,
  parseCommandLine,
  runExec,
  type ExecApi,
} from '../../../../src/kgpu/api/exec-request';
import { startRunFixture, type RunFixture } from '../jobs/run-fixture';

let fx: RunFixture;
before(async () => {
  fx = await startRunFixture();
});
after(async () => {
  await fx?.stop();
});

test('command lines become argv with shell-like quoting; shell syntax is refused with the bash -c hint', () => {
  assert.deepEqual(parseCommandLine(`python -c 'print("a b")' --x "y z" c\\ d`).argv, [
    'python',
    '-c',
    'print("a b")',
    '--x',
    'y z',
    'c d',
  ]);
  assert.deepEqual(parseCommandLine(`echo '$HOME' # comment`).argv, ['echo', '$HOME']);
  for (const [line, what] of [
    ['ls | wc -l', '"|" is a shell operator'],
    ['nvidia-smi > out.txt', '">" is a shell operator'],
    ['make && ./run', '"&&" is a shell operator'],
    ['sleep 1 &', '"&" is a shell operator'],
    ['ls *.py', '"*.py" would not be expanded'],
    ['echo $HOME', '$HOME would not be expanded'],
  ] as const) {
    const r = parseCommandLine(line);
    assert.ok(r.error?.startsWith(what), `${line}: ${r.error}`);
    assert.match(r.error ?? '', /bash -c '…'/);
  }
  assert.match(parseCommandLine('   ').error ?? '', /Type a command/);
});

test('limits are checked before sending: > 1 MiB stdin, timeout outside 1–300 s', async () => {
  assert.match(buildExecRequest({ argv: ['cat'], stdin: 'x'.repeat(1024 * 1024 + 1) }).error ?? '', /at most 1 MiB of stdin/);
  assert.ok(buildExecRequest({ argv: ['cat'], stdin: 'x'.repeat(1024 * 1024) }).request);
  assert.match(buildExecRequest({ argv: ['true'], timeoutSeconds: 301 }).error ?? '', /from 1 to 300/);
  assert.match(buildExecRequest({ argv: ['true'], timeoutSeconds: 0 }).error ?? '', /from 1 to 300/);
  assert.equal(buildExecRequest({ argv: ['true'] }).request?.timeout_seconds, 60);
  // Nothing reaches the API when the input is refused.
  let calls = 0;
  const counting: ExecApi = { exec: async (...a) => (calls++, fx.client.exec(...a)) };
  await assert.rejects(runExec(counting, fx.podId, { argv: ['cat'], stdin: 'é'.repeat(600 * 1024) }), ExecInputError);
  assert.equal(calls, 0);
});

test('stdout, stderr, exit code and duration reach the report', async () => {
  const argv = parseCommandLine(`sh -c 'echo out; echo err >&2; cat; exit 4'`).argv!;
  const o = await runExec(fx.client, fx.podId, { argv, stdin: 'from stdin\n' });
  assert.equal(o.response.exit_code, 4);
  assert.equal(o.response.stdout, 'out\nfrom stdin\n');
  assert.equal(o.response.stderr, 'err\n');
  assert.equal(o.timedOut, false);
  assert.equal(o.truncated, false);
  assert.match(o.summary, /^exit code 4 in \d+\.\d\d s$/);
  const report = formatExecReport('my-pod', argv, o);
  assert.match(
    report,
    /^\$ sh -c 'echo out; echo err >&2; cat; exit 4'    \(my-pod\)\nout\nfrom stdin\n\[stderr\]\nerr\n\[exit code 4 in .* s\]\n$/,
  );
});

test('output over 1 MiB is reported as truncated, pointing to the terminal', async () => {
  const o = await runExec(fx.client, fx.podId, { argv: ['python3', '-c', 'import sys; sys.stdout.write("x" * (2 * 1024 * 1024))'] });
  assert.equal(o.truncated, true);
  assert.equal(o.response.stdout.length, 1024 * 1024);
  assert.match(o.summary, /output truncated at 1 MiB/);
  assert.ok(o.notes.some((n) => /truncated at 1 MiB.*Open Terminal/.test(n)));
});

test('a command that hits its timeout is reported as killed by the timeout, with the partial output', async () => {
  const o = await runExec(fx.client, fx.podId, { argv: ['sh', '-c', 'echo started; sleep 30'], timeoutSeconds: 1 });
  assert.equal(o.timedOut, true);
  assert.equal(o.response.stdout, 'started\n');
  assert.match(o.summary, /^killed by the timeout in/);
  assert.ok(o.notes.some((n) => /1 s timeout .*at most 300 s.*Open Terminal/.test(n)));
  const fast = await runExec(fx.client, fx.podId, { argv: ['false'], timeoutSeconds: 1 });
  assert.equal(fast.timedOut, false, 'a quick failure is not a timeout');
});

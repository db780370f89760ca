// Simulator REST: POST /pods/{id}/exec — argv, stdin, timeout with partial output, the 1 MiB
// output cap, validation (422 naming the field, stdin over 1 MiB included), 409 before ready.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertError, call, rentReady, startSim } from './rest-fixture';

test('exec runs argv inside the pod with stdin, and returns exit code, stdout, stderr, duration', async (t) => {
  const sim = await startSim(t);
  const id = await rentReady(sim, { gpu_model: 'v100', env: { MY_VAR: 'hello world' } });
  const r = await call(sim, 'POST', `/pods/${id}/exec`, {
    body: {
      cmd: [
        'sh',
        '-c',
        'cd /workspace && pwd; printf "%s|" "$MY_VAR" "$KGPU_RENT_ID" "$NVIDIA_VISIBLE_DEVICES"; wc -c; echo oops >&2; exit 3',
      ],
      stdin: 'x'.repeat(1000),
    },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.exit_code, 3);
  assert.equal(r.body.stdout, `/workspace\nhello world|${id}|void|1000\n`);
  assert.equal(r.body.stderr, 'oops\n');
  assert.equal(r.body.truncated, false);
  assert.equal(typeof r.body.duration_ms, 'number');
  // argv is not a shell line: metacharacters stay literal.
  const lit = await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['printf', '%s', '$(id) ; `x` "q"'] } });
  assert.equal(lit.body.stdout, '$(id) ; `x` "q"');
  const missing = await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['no-such-command-kgpu'] } });
  assert.equal(missing.status, 200);
  assert.equal(missing.body.exit_code, 127);
});

test('exec: timeout kills the command and returns its partial output; output over 1 MiB is truncated', async (t) => {
  const sim = await startSim(t);
  const id = await rentReady(sim, { gpu_model: 'v100' });
  const slow = await call(sim, 'POST', `/pods/${id}/exec`, {
    body: { cmd: ['sh', '-c', 'echo before; sleep 30; echo after'], timeout_seconds: 1 },
  });
  assert.equal(slow.status, 200, slow.text);
  assert.equal(slow.body.stdout, 'before\n');
  assert.notEqual(slow.body.exit_code, 0);
  assert.ok(slow.body.duration_ms >= 900 && slow.body.duration_ms < 10_000, `killed after ~1 s (${slow.body.duration_ms} ms)`);
  const big = await call(sim, 'POST', `/pods/${id}/exec`, {
    body: { cmd: ['sh', '-c', 'head -c 1500000 /dev/zero | tr "\\0" a; head -c 10 /dev/zero | tr "\\0" b >&2'] },
  });
  assert.equal(big.status, 200);
  assert.equal(big.body.truncated, true);
  assert.equal(Buffer.byteLength(big.body.stdout) + Buffer.byteLength(big.body.stderr), 1024 * 1024);
});

test('exec validation: cmd, stdin, timeout_seconds (422 naming the field), stdin over 1 MiB too (the contract lists no 413)', async (t) => {
  const sim = await startSim(t);
  const id = await rentReady(sim, { gpu_model: 'v100' });
  const bad: [unknown, string][] = [
    [{}, 'cmd'],
    [{ cmd: [] }, 'cmd'],
    [{ cmd: 'ls -la' }, 'cmd'],
    [{ cmd: ['ls', 3] }, 'cmd'],
    [{ cmd: ['true'], stdin: 5 }, 'stdin'],
    [{ cmd: ['true'], timeout_seconds: 0 }, 'timeout_seconds'],
    [{ cmd: ['true'], timeout_seconds: 301 }, 'timeout_seconds'],
    [{ cmd: ['true'], timeout_seconds: '60' }, 'timeout_seconds'],
  ];
  for (const [body, field] of bad) assertError(await call(sim, 'POST', `/pods/${id}/exec`, { body }), 422, 'validation_failed', field);
  const huge = await call(sim, 'POST', `/pods/${id}/exec`, { body: { cmd: ['wc', '-c'], stdin: 'y'.repeat(1024 * 1024 + 1) } });
  assertError(huge, 422, 'validation_failed', 'stdin');
  assert.equal(huge.body.max_bytes, 1024 * 1024);
  assert.match(huge.body.message, /1 MiB/);
  const exact = await call(sim, 'POST', `/pods/${id}/exec`, {
    body: { cmd: ['wc', '-c'], stdin: 'y'.repeat(1024 * 1024), timeout_seconds: 300 },
  });
  assert.equal(exact.status, 200, exact.text);
  assert.equal(exact.body.stdout.trim(), String(1024 * 1024));
});

test('exec answers 409 pod_not_ready while Pending and after the pod ended', async (t) => {
  const sim = await startSim(t, { coldStartMs: 10_000 });
  const r = await call(sim, 'POST', '/pods', { body: { gpu_model: 'v100' } });
  const e = await call(sim, 'POST', `/pods/${r.body.pod_id}/exec`, { body: { cmd: ['true'] } });
  assertError(e, 409, 'pod_not_ready');
  assert.equal(e.body.phase, 'Pending');
  await sim.clock.advance(10_000);
  await sim.settled();
  await call(sim, 'DELETE', `/pods/${r.body.pod_id}`);
  assertError(await call(sim, 'POST', `/pods/${r.body.pod_id}/exec`, { body: { cmd: ['true'] } }), 409, 'pod_not_ready');
});

/**
 * The bastion unreachable for a while (the contract's "unreachable for 30 s": the simulator's
 * bastion.pause()/resume(), with the connector's ready timeout and keepalive shortened through
 * options so the test does not wait 30 real seconds). Operations fail with a clear "cannot reach
 * the bastion" message, nothing on the pod's disk is touched, everything recovers by itself after
 * resume(), and reconnects back off — the connection attempts seen by the bastion stay bounded.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { BastionUnreachableError } from '../../../src/kgpu/ssh/ssh-errors';
import { backoffReconnectPolicy } from '../../../src/kgpu/ssh/reconnect-policy';
import type { PodConnectorOptions } from '../../../src/kgpu/ssh/ssh-connection';
import { WorkspaceFsError } from '../../../src/kgpu/fs/workspace-fs';
import { podWrite, sha, startFleet, waitFor, type Fleet } from './fleet-fixture';

/** The ready timeout while the bastion is paused, instead of the product's 20 s (and a 150 ms
 *  keepalive instead of 15 s), so the test does not wait 30 real seconds. */
const STALLED_READY_MS = 400;

/** Connector options with short timeouts — the ready timeout short only while the bastion is
 *  paused: connecting before the pause and after resume() has a generous bound, so a loaded
 *  machine (a handshake over 400 ms at load 13) cannot fail the set-up or the recovery. A getter,
 *  read at each connection attempt (the fleet fixture keeps it). */
function fast(f: Fleet): Partial<PodConnectorOptions> {
  return {
    get readyTimeoutMs() {
      return f.sim.bastion.paused ? STALLED_READY_MS : 10_000;
    },
    keepaliveIntervalMs: 150,
  };
}

for (const spares of [0, 2])
  test(`paused bastion (${spares} spare connections${spares ? ', as the editor runs' : ''}): saves, reads and execs fail with "cannot reach the bastion", the file untouched; after resume the same instances work again`, async (t) => {
    const f = await startFleet(1);
    t.after(() => f.stop());
    const pod = f.pods[0]!;
    const wfs = pod.fs({ cacheTtlMs: 0, connector: async () => connector });
    const connector = pod.connector(Object.assign(fast(f), { spareConnections: spares }));
    const p = '/workspace/notes.txt';
    await wfs.writeFile(p, Buffer.from('before\n'), { create: true, overwrite: true });
    const before = sha(fs.readFileSync(pod.host(p)));

    f.sim.bastion.pause();
    const c0 = f.sim.bastion.counters.connections;
    const t0 = Date.now();
    const isUnreachable = (e: unknown): boolean => {
      assert.ok(e instanceof WorkspaceFsError, String(e));
      assert.equal(e.kind, 'Unavailable', e.message);
      assert.match(e.message, /cannot reach the bastion/i);
      assert.ok(e.message.includes(`${f.sim.sshHost}:${f.sim.sshPort}`), e.message);
      return true;
    };
    // The SFTP session opened before the pause stalls: keepalive finds it dead, a reconnect times out.
    await assert.rejects(wfs.writeFile(p, Buffer.from('during the pause\n'), { create: true, overwrite: true }), isUnreachable);
    await assert.rejects(wfs.readFile(p), isUnreachable);
    await assert.rejects(wfs.stat('/workspace'), isUnreachable);
    const err = await exec(connector, 'true').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof BastionUnreachableError, String(err));
    assert.match(err.message, /Cannot reach the bastion at .* Check your network/);
    const attempts = f.sim.bastion.counters.connections - c0;
    const elapsed = Date.now() - t0;
    // Four operations, each allowed one reconnect: no loop hammering a bastion that does not answer.
    assert.ok(attempts <= 8 + spares, `${attempts} connection attempts in ${elapsed} ms for 4 operations`);

    f.sim.bastion.resume();
    assert.equal(sha(fs.readFileSync(pod.host(p))), before, 'nothing was written while the bastion was away');
    // Recovery by itself: the same WorkspaceFs and connector, no reset by the caller.
    await wfs.writeFile(p, Buffer.from('after\n'), { create: true, overwrite: true });
    assert.equal(fs.readFileSync(pod.host(p), 'utf8'), 'after\n');
    assert.equal(Buffer.from(await wfs.readFile(p)).toString(), 'after\n');
    assert.equal((await exec(connector, 'echo ok')).stdout.toString(), 'ok\n');
    t.diagnostic(`pause (${spares} spares): ${attempts} connection attempts over ${elapsed} ms for 4 failed operations`);
  });

test('paused bastion under a followed log: the follower backs off (bounded attempts), resumes by itself, no byte lost or repeated', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await podWrite(
    pod,
    '/workspace/steps.py',
    `import os, time
for i in range(200):
    print("step %04d" % i, flush=True)
    if i == 20:
        while not os.path.exists("/workspace/go"):
            time.sleep(0.01)
print("done")
`,
  );
  const runner = f.runner({ connector: fast(f) });
  const got: Buffer[] = [];
  const reconnects: { attempt: number; at: number }[] = [];
  const h = runner.runFile({
    podId: pod.podId,
    target: { kind: 'pod', path: '/workspace/steps.py' },
    python: 'python3',
    args: [],
    env: {},
    onData: (b) => void got.push(b),
    onReconnect: (r) => void reconnects.push({ attempt: r.attempt, at: Date.now() }),
  });
  await h.started;
  await waitFor('the log up to the gate', () => Buffer.concat(got).toString().includes('step 0020\n'));

  f.sim.bastion.pause();
  const c0 = f.sim.bastion.counters.connections;
  const t0 = Date.now();
  // Let the job run on while the bastion is away; the follower must notice and keep retrying.
  fs.writeFileSync(pod.host('/workspace/go'), '');
  await waitFor('four reconnect attempts', () => reconnects.length >= 4, 20_000);
  const attempts = f.sim.bastion.counters.connections - c0;
  const elapsed = Date.now() - t0;
  f.sim.bastion.resume();

  const r = await h.done;
  const podLog = fs.readFileSync(pod.host(`/workspace/.kgpu/jobs/${h.jobId}/log`));
  assert.equal(sha(Buffer.concat(got)), sha(podLog), 'the log arrived complete, nothing lost or repeated');
  assert.ok(Buffer.concat(got).toString().endsWith('step 0199\ndone\n'));
  assert.equal(r.job.status.state, 'exited');
  // Backoff: attempts 1..4 wait 50, 100, 200 ms between them (plus each attempt's ready timeout).
  assert.ok(attempts <= reconnects.length + 1, `${attempts} connections for ${reconnects.length} reconnects — no busy loop`);
  const gaps = reconnects.slice(1, 4).map((x, i) => x.at - reconnects[i]!.at);
  for (const g of gaps) assert.ok(g >= STALLED_READY_MS, `reconnects ${gaps.join(', ')} ms apart: each waits out its attempt`);
  assert.ok(elapsed >= 50 + 100 + 200, `four attempts took ${elapsed} ms (backoff)`);
  t.diagnostic(`follow under pause: ${reconnects.length} reconnects, ${attempts} connections in ${elapsed} ms`);
});

test('paused bastion under an open watch: reconnects back off (bounded attempts), and after resume changes in the pod are reported again', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const connector = pod.connector(fast(f));
  const wfs = pod.fs({ connector: async () => connector, debounceMs: 10 });
  const seen: string[] = [];
  wfs.onDidChange((changes) => seen.push(...changes.map((c) => c.path)));
  const w = wfs.watch('/workspace', { recursive: true });
  t.after(() => w.dispose());
  await w.ready;

  f.sim.bastion.pause();
  const c0 = f.sim.bastion.counters.connections;
  const t0 = Date.now();
  // Wait (bounded) until the watch has tried to come back at least three times.
  await waitFor('three reconnect attempts of the watch', () => f.sim.bastion.counters.connections - c0 >= 3, 20_000);
  const attempts = f.sim.bastion.counters.connections - c0;
  const elapsed = Date.now() - t0;
  f.sim.bastion.resume();
  // Backoff 250, 500, 1000 ms … between attempts (each also waits out its ready timeout): no busy loop.
  assert.ok(elapsed >= 250 + 500, `${attempts} attempts in ${elapsed} ms`);
  assert.ok(attempts <= 4, `${attempts} attempts in ${elapsed} ms`);

  // On reconnecting, the watch reports the root as changed (events may have been missed while away:
  // VS Code re-reads the folder), then reports changes again.
  const mark = seen.length;
  await waitFor('the catch-up change of the root', () => seen.slice(mark).includes('/workspace'), 20_000);
  let n = 0;
  await waitFor(
    'a change made in the pod after resume',
    () => {
      fs.writeFileSync(pod.host(`/workspace/after-resume-${n++}.txt`), 'x');
      return seen.some((p) => p.startsWith('/workspace/after-resume-'));
    },
    20_000,
  );
  t.diagnostic(`watch under pause: ${attempts} connection attempts in ${elapsed} ms, then recovered`);
});

test('a long outage does not end the watch: past 8 failed reconnects it keeps trying at the capped delay and picks up again by itself', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  const connector = pod.connector(fast(f));
  // Backoff shortened (20 ms doubling to 100 ms) so that 12 failures take seconds, not minutes.
  const wfs = pod.fs({
    connector: async () => connector,
    debounceMs: 10,
    watchReconnect: backoffReconnectPolicy({ baseDelayMs: 20, maxDelayMs: 100 }),
  });
  const seen: string[] = [];
  wfs.onDidChange((changes) => seen.push(...changes.map((c) => c.path)));
  const w = wfs.watch('/workspace', { recursive: true });
  t.after(() => w.dispose());
  await w.ready;

  f.sim.bastion.pause();
  const c0 = f.sim.bastion.counters.connections;
  const t0 = Date.now();
  await waitFor('twelve reconnect attempts', () => f.sim.bastion.counters.connections - c0 >= 12, 30_000);
  const attempts = f.sim.bastion.counters.connections - c0;
  const elapsed = Date.now() - t0;
  f.sim.bastion.resume();
  // Each attempt waits out its ready timeout before the next: never faster than that.
  assert.ok(elapsed >= (attempts - 1) * STALLED_READY_MS, `${attempts} attempts in ${elapsed} ms`);
  const mark = seen.length;
  await waitFor('the catch-up change of the root', () => seen.slice(mark).includes('/workspace'), 20_000);
  let n = 0;
  await waitFor(
    'a change made in the pod after the outage',
    () => {
      fs.writeFileSync(pod.host(`/workspace/after-outage-${n++}.txt`), 'x');
      return seen.some((p) => p.startsWith('/workspace/after-outage-'));
    },
    20_000,
  );
  t.diagnostic(`long outage: ${attempts} attempts in ${elapsed} ms, then the watch recovered`);
});

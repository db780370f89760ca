/**
 * A followed log through an outage that fails FAST (every connection cut at once — the network
 * down, the bastion restarting), longer than the follower's reconnect budget: it waits the outage
 * out (one attempt per ≤ 2 s, bounded), then resumes at its offset with nothing lost or repeated.
 * Past `maxOutageMs` it gives up with the transport's clear error. (A stalled bastion:
 * bastion-pause.test.ts; a single drop: kgpu/jobs-follow.test.ts.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { startJob } from '../../../src/kgpu/jobs/jobs';
import { followLog } from '../../../src/kgpu/jobs/log-follow';
import { BastionUnreachableError, ConnectionLostError } from '../../../src/kgpu/ssh/ssh-errors';
import { podWrite, sha, startFleet, waitFor } from './fleet-fixture';

const GATED = `import os, time
for i in range(30):
    print("line %03d" % i, flush=True)
while not os.path.exists("/workspace/go"):
    time.sleep(0.01)
for i in range(30, 60):
    print("line %03d" % i, flush=True)
`;

test('a fast-failing outage longer than the reconnect budget is waited out; the log resumes whole', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await podWrite(pod, '/workspace/gated.py', GATED);
  const job = await startJob(pod.commands(), { argv: ['python3', '/workspace/gated.py'], cwd: '/workspace' });
  const got: Buffer[] = [];
  const reconnects: number[] = [];
  const followed = followLog(pod.commands(), job.id, {
    onData: (b) => void got.push(b),
    onReconnect: (r) => void reconnects.push(r.attempt),
    maxReconnects: 2,
    maxOutageMs: 20_000,
  });
  await waitFor('the first part', () => Buffer.concat(got).toString().includes('line 029\n'));

  // The outage: every connection is cut as soon as it is made, for longer than 2 quick reconnects.
  const c0 = f.sim.bastion.counters.connections;
  const cut = setInterval(() => f.sim.bastion.dropConnections(), 2);
  t.after(() => clearInterval(cut));
  await waitFor('five failed reconnects', () => reconnects.length >= 5, 20_000);
  const attempts = f.sim.bastion.counters.connections - c0;
  clearInterval(cut);
  fs.writeFileSync(pod.host('/workspace/go'), '');

  const r = await followed;
  const podLog = fs.readFileSync(pod.host(`/workspace/.kgpu/jobs/${job.id}/log`));
  assert.equal(sha(Buffer.concat(got)), sha(podLog), 'nothing lost or repeated');
  assert.ok(Buffer.concat(got).toString().endsWith('line 059\n'));
  assert.equal(r.job.status.state, 'exited');
  assert.ok(attempts <= reconnects.length + 2, `${attempts} connections for ${reconnects.length} reconnects`);
  t.diagnostic(`fast-failing outage: ${reconnects.length} reconnects, ${attempts} connections, then resumed`);
});

test('an outage past maxOutageMs ends the follow with the transport error (no endless retrying)', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await podWrite(pod, '/workspace/gated.py', GATED);
  const job = await startJob(pod.commands(), { argv: ['python3', '/workspace/gated.py'], cwd: '/workspace' });
  const got: Buffer[] = [];
  const followed = followLog(pod.commands(), job.id, { onData: (b) => void got.push(b), maxReconnects: 2, maxOutageMs: 300 });
  await waitFor('the first part', () => Buffer.concat(got).toString().includes('line 029\n'));
  const cut = setInterval(() => f.sim.bastion.dropConnections(), 2);
  t.after(() => clearInterval(cut));
  const t0 = Date.now();
  const e = await followed.then(
    () => undefined,
    (err: unknown) => err,
  );
  clearInterval(cut);
  assert.ok(e instanceof BastionUnreachableError || e instanceof ConnectionLostError, String(e));
  assert.ok(Date.now() - t0 >= 300, 'it waited the outage budget');
  assert.match((e as Error).message, /Cannot reach the bastion|connection to the pod was lost/);
});

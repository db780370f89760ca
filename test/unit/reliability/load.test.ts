/**
 * Load: 4 pods, each with a running job whose log is followed, plus 200 file saves spread across
 * them in parallel through WorkspaceFs. Every save lands (hash check on the pods' disks), every
 * log arrives complete (byte-identical to the pod's), memory stays bounded (RSS growth reported),
 * and the bastion's one-channel-per-connection rule is never violated (refusedChannels === 0).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { podWrite, sha, startFleet } from './fleet-fixture';

const PODS = 4;
const SAVES = 200;

test('4 pods × (running job + followed log) + 200 parallel saves: all land, all logs complete, RSS bounded, no refused channel', async (t) => {
  const f = await startFleet(PODS);
  t.after(() => f.stop());
  const runner = f.runner();
  const job = `import sys
for i in range(4000):
    sys.stdout.write("step %05d loss %.6f\\n" % (i, 1.0 / (i + 1)))
    if i % 500 == 0:
        sys.stdout.flush()
print("done", flush=True)
`;
  for (const pod of f.pods) await podWrite(pod, '/workspace/load.py', job);
  // One connector per pod with 2 spare connections, as the editor's router builds them.
  const filesystems = f.pods.map((pod) => {
    const connector = pod.connector({ spareConnections: 2 });
    return pod.fs({ connector: async () => connector });
  });
  for (const wfs of filesystems) await wfs.createDirectory('/workspace/saves');
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let rssPeak = rss0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
  t.after(() => clearInterval(sampler));
  const t0 = Date.now();

  const logs = f.pods.map(() => [] as Buffer[]);
  const runs = f.pods.map((pod, i) =>
    runner.runFile({
      podId: pod.podId,
      target: { kind: 'pod', path: '/workspace/load.py' },
      python: 'python3',
      args: [],
      env: {},
      onData: (b) => void logs[i]!.push(b),
    }),
  );
  const contents = Array.from({ length: SAVES }, (_, i) => randomBytes(1024 + ((i * 797) % 15_000)));
  const saves = contents.map((data, i) =>
    filesystems[i % PODS]!.writeFile(`/workspace/saves/file-${i}.txt`, data, { create: true, overwrite: true }),
  );
  const [saveResults, runResults] = await Promise.all([Promise.allSettled(saves), Promise.allSettled(runs.map((r) => r.done))]);
  const elapsed = Date.now() - t0;
  clearInterval(sampler);

  const failedSaves = saveResults.flatMap((r, i) => (r.status === 'rejected' ? [`save ${i}: ${String(r.reason)}`] : []));
  assert.deepEqual(failedSaves, [], 'every save succeeded');
  for (let i = 0; i < SAVES; i++) {
    const pod = f.pods[i % PODS]!;
    assert.equal(sha(fs.readFileSync(pod.host(`/workspace/saves/file-${i}.txt`))), sha(contents[i]!), `save ${i} landed byte-identical`);
  }
  for (let i = 0; i < PODS; i++) {
    const r = runResults[i]!;
    assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
    const pod = f.pods[i]!;
    const podLog = fs.readFileSync(pod.host(`/workspace/.kgpu/jobs/${runs[i]!.jobId}/log`));
    const got = Buffer.concat(logs[i]!);
    assert.equal(sha(got), sha(podLog), `pod ${i}: the followed log is the pod's log, byte for byte`);
    assert.ok(got.toString().endsWith('step 03999 loss 0.000250\ndone\n'), `pod ${i}: the log is complete`);
  }
  assert.equal(f.sim.bastion.counters.refusedChannels, 0, 'never a second channel on a connection');
  const growthMiB = (rssPeak - rss0) / 2 ** 20;
  t.diagnostic(
    `load: ${SAVES} saves + ${PODS} followed jobs in ${elapsed} ms; RSS ${(rss0 / 2 ** 20).toFixed(0)} MiB → peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB (+${growthMiB.toFixed(1)} MiB); ${f.sim.bastion.counters.connections} SSH connections`,
  );
  assert.ok(growthMiB < 200, `RSS grew ${growthMiB.toFixed(1)} MiB`);
});

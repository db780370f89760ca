/** One notice per pod state change observed while polling, with the right next action. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture } from '../api/api-fixture';
import { KgpuClient } from '../../../../src/kgpu/index';
import { RentalsModel, type PodStateChange } from '../../../../src/kgpu/model/rentals-model';
import { podNotice } from '../../../../src/kgpu/model/pod-notices';
import { sshCommand } from '../../../../src/kgpu/ssh/ssh-command';

function watch(client: KgpuClient): { model: RentalsModel; changes: PodStateChange[] } {
  const model = new RentalsModel(() => ({
    api: {
      listPods: () => client.listPods(),
      getPod: (id) => client.getPod(id),
      me: () => client.getMe(),
      gpuModels: () => client.listGpuModels(),
    },
    signedIn: true,
  }));
  const changes: PodStateChange[] = [];
  model.onDidChangePodState((c) => changes.push(c));
  return { model, changes };
}

const none = { releasedHere: new Set<string>(), awaitingReady: new Set<string>() };

test('evictions and out-of-credits give an error with a pre-filled "rent again" that raises what ran out', async (t) => {
  const { sim, client } = await apiFixture(t);
  const { model, changes } = watch(client);
  t.after(() => model.dispose());
  const disk = await client.rent({ gpu_model: 'v100', name: 'disk', ephemeral_storage_gib: 50 });
  const oom = await client.rent({ gpu_model: 'rtx3090', name: 'oom', memory: '16Gi' });
  await sim.settled();
  await model.refresh();
  await sim.endPod(disk.pod_id, 'evicted_by_kubelet:OutOfephemeral-storage');
  await sim.endPod(oom.pod_id, 'evicted_by_kubelet:OOMKilled');
  await model.refresh();
  const notices = changes.map((c) => podNotice(c, none)!);
  assert.equal(notices.length, 2);
  const byPod = (name: string) => notices.find((n) => n.message.includes(`${name} (`))!;
  assert.equal(byPod('disk').severity, 'error');
  assert.match(byPod('disk').message, /Evicted: disk full — raise ephemeral storage/);
  assert.deepEqual(
    byPod('disk').actions.map((a) => [a.title, a.command]),
    [['Rent with more disk…', 'kgpu.rent']],
  );
  assert.equal((byPod('disk').actions[0].args[0] as { ephemeral_storage_gib: number }).ephemeral_storage_gib, 100);
  assert.equal((byPod('oom').actions[0].args[0] as { memory: string }).memory, '32Gi');

  // A job of this window was running on the evicted pod: its notice (which also re-runs the file)
  // reports the eviction, so the pod's own would be a second notification for the same event.
  const withJob = { ...none, jobReportsEviction: (podId: string) => podId === oom.pod_id };
  const oomChange = changes.find((c) => c.pod.pod_id === oom.pod_id)!;
  assert.equal(podNotice(oomChange, withJob), undefined);
  assert.ok(
    podNotice(
      changes.find((c) => c.pod.pod_id === disk.pod_id)!,
      withJob,
    ),
    'no job there: the pod notice stays',
  );
});

test('released elsewhere is reported; released here is not; ready is quiet while the rent progress shows it', async (t) => {
  const { sim, client } = await apiFixture(t, { coldStartMs: 20_000 });
  const { model, changes } = watch(client);
  t.after(() => model.dispose());
  const here = await client.rent({ gpu_model: 'rtx3080', name: 'here' });
  const there = await client.rent({ gpu_model: 'v100', name: 'there' });
  await sim.settled();
  await model.refresh();
  await sim.clock.advance(20_000);
  await model.refresh();
  const ready = changes.filter((c) => c.kind === 'ready');
  assert.equal(ready.length, 2);
  const ctx = { releasedHere: new Set([here.pod_id]), awaitingReady: new Set([here.pod_id]) };
  assert.equal(
    podNotice(
      ready.find((c) => c.pod.pod_id === here.pod_id)!,
      ctx,
    ),
    undefined,
  );
  const readyThere = podNotice(
    ready.find((c) => c.pod.pod_id === there.pod_id)!,
    ctx,
  )!;
  assert.deepEqual(
    readyThere.actions.map((a) => a.command),
    ['kgpu.openWorkspace', 'kgpu.openTerminal'],
  );

  await client.release(here.pod_id);
  await client.release(there.pod_id);
  await sim.settled();
  await model.refresh();
  const ended = changes.filter((c) => c.kind === 'ended');
  assert.equal(ended.length, 2);
  assert.equal(
    podNotice(
      ended.find((c) => c.pod.pod_id === here.pod_id)!,
      ctx,
    ),
    undefined,
  );
  assert.match(
    podNotice(
      ended.find((c) => c.pod.pod_id === there.pod_id)!,
      ctx,
    )!.message,
    /released elsewhere/,
  );
});

test('12 h without SSH activity raises the idle warning once, offering Release', async (t) => {
  const { sim, client } = await apiFixture(t);
  const { model, changes } = watch(client);
  t.after(() => model.dispose());
  await client.rent({ gpu_model: 'rtx3080', name: 'idle' });
  await sim.settled();
  await model.refresh();
  await sim.clock.advance(12 * 3_600_000 + 60_000);
  await model.refresh();
  await model.refresh();
  const idle = changes.filter((c) => c.kind === 'idle_warning');
  assert.equal(idle.length, 1);
  const n = podNotice(idle[0], none)!;
  assert.equal(n.severity, 'warning');
  assert.match(n.message, /released as idle at 24 h\. It still bills 300 credits\/h/);
  assert.equal(n.actions[0].command, 'kgpu.release');
});

test('the ssh command line: contract form, -i only with a key file, quoted', () => {
  assert.equal(sshCommand({ host: 'ssh.kgpu.net', port: 2222 }), 'ssh -p 2222 kgpu@ssh.kgpu.net');
  assert.equal(
    sshCommand({ host: '127.0.0.1', port: 40022, identityFile: '/tmp/kgpu keys/p.key' }),
    "ssh -p 40022 -i '/tmp/kgpu keys/p.key' -o IdentitiesOnly=yes kgpu@127.0.0.1",
  );
});

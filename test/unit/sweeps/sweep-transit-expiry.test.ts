/**
 * A sweep resumed after its transit objects expired (issue 23): objects live 24 h; a sweep found
 * again a day later (its stored plan restored, TransitFanOut.restore) on a pod that never fetched
 * the large file uploads it again — once — and the pod gets the same bytes, instead of failing on
 * the expired object (the simulator answers 410 object_expired; its clock is advanced past 24 h).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startSimulator, type Simulator } from '../../sim/index';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { MemoryHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { podCommands, type PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { largeFiles, TransitFanOut } from '../../../src/kgpu/sweeps/fanout';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';

let sim: Simulator;
let client: KgpuClient;
let tmp: string;
const connectors: PodConnector[] = [];
const hostKeys = new MemoryHostKeyStore();

before(async () => {
  sim = await startSimulator({ clockSpeed: 0 });
  client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-transit-expiry-'));
});
after(async () => {
  for (const c of connectors) c.dispose();
  await client?.close();
  await sim?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function rentPod(): Promise<{ podId: string; pod: PodCommands }> {
  const key = throwawayEd25519();
  const rented = await client.rent({ gpu_model: 'rtx3080', ssh_pubkey: key.public });
  await client.waitUntilReady(rented.pod_id, { intervalMs: 20, pollFloorMs: 0 });
  const c = new PodConnector({ host: sim.sshHost, port: sim.sshPort, privateKey: key.private, hostKeys, readyTimeoutMs: 10_000 });
  connectors.push(c);
  return { podId: rented.pod_id, pod: podCommands(c) };
}

test('a resumed sweep whose transit object expired (24 h) uploads the file again, once, and the pod gets it', async () => {
  const dir = path.join(tmp, 'proj');
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const big = crypto.randomBytes(200 * 1024);
  fs.writeFileSync(path.join(dir, 'data', 'big.bin'), big);
  let creates = 0;
  const counting = {
    createObject: (...a: Parameters<KgpuClient['createObject']>) => (creates++, client.createObject(...a)),
    uploadToPutUrl: (...a: Parameters<KgpuClient['uploadToPutUrl']>) => client.uploadToPutUrl(...a),
    getObject: (...a: Parameters<KgpuClient['getObject']>) => client.getObject(...a),
    deleteObject: (...a: Parameters<KgpuClient['deleteObject']>) => client.deleteObject(...a),
  };
  // Day 1: the sweep uploads the file and its first pod fetches it; the plan keeps the object.
  const first = await rentPod();
  const fanOut = new TransitFanOut(counting, await largeFiles(dir, 64 * 1024));
  await fanOut.prepare();
  const stored = await fanOut.stored();
  assert.deepEqual((await fanOut.fetchInto(first.pod, '/workspace/proj')).fetched, ['data/big.bin']);
  assert.equal(creates, 1);
  await client.release(first.podId);

  // Day 2: the object has expired.
  await sim.clock.advance(24 * 3600_000 + 60_000);
  await assert.rejects(client.getObject(stored.files[0].objectId!), (e: { status?: number }) => e.status === 410);

  // The sweep found again (its stored plan) on a new pod: uploads once more, the pod gets the bytes.
  const second = await rentPod();
  const restored = TransitFanOut.restore(counting, dir, stored);
  const r = await restored.fetchInto(second.pod, '/workspace/proj');
  assert.deepEqual(r.fetched, ['data/big.bin']);
  assert.equal(creates, 2, 'uploaded again, once');
  const sha = (await second.pod.exec(`sha256sum < /workspace/proj/data/big.bin | cut -c1-64`)).stdout.toString().trim();
  assert.equal(sha, crypto.createHash('sha256').update(big).digest('hex'));
  const now = await restored.stored();
  assert.notEqual(now.files[0].objectId, stored.files[0].objectId, 'the plan keeps the new object');
  await restored.dispose();
  await client.release(second.podId);
});

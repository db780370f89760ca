/**
 * The bastion reinstalled (or impersonated) on the same host:port with a NEW host key, for the
 * host-key tests (reliability/host-key.test.ts, security/host-key-change.test.ts): a simulator whose
 * key a store pins, stopped, and a fresh simulator on the same port with a pod rented on it.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { startSimulator } from '../../../sim/index';
import { KgpuClient } from '../../../../src/kgpu/api/api-client';
import type { HostKeyStore } from '../../../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../../src/kgpu/ssh/ssh-exec';
import { throwawayEd25519 } from '../api/api-fixture';

type Simulator = Awaited<ReturnType<typeof startSimulator>>;

export interface RentedPod {
  podId: string;
  privateKey: string;
  close(): Promise<void>;
}

/** A v100 pod rented on `sim` with a throwaway key, ready. */
export async function rentedPod(sim: Simulator): Promise<RentedPod> {
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token });
  const key = throwawayEd25519();
  const r = await client.rent({ gpu_model: 'v100', ssh_pubkey: key.public });
  await client.waitUntilReady(r.pod_id, { intervalMs: 10, pollFloorMs: 0 });
  return { podId: r.pod_id, privateKey: key.private, close: () => client.close() };
}

/**
 * A first simulator's host key pinned in `store` by one connection to a pod there (asserted), that
 * simulator stopped, and a different one (fresh state dir → fresh host key) started on the same
 * port with a pod rented on it; `t.after` stops the second simulator, then closes its pod's client.
 */
export async function hostKeyChanged(
  t: TestContext,
  store: HostKeyStore,
): Promise<{ hostPort: string; pinned: string | undefined; second: Simulator; pod: RentedPod }> {
  const first = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0 });
  const a = await rentedPod(first);
  const c1 = new PodConnector({ host: first.sshHost, port: first.sshPort, privateKey: a.privateKey, hostKeys: store });
  assert.equal((await exec(c1, 'true')).exitCode, 0);
  c1.dispose();
  const hostPort = `${first.sshHost}:${first.sshPort}`;
  const pinned = await store.get(hostPort);
  assert.match(pinned ?? '', /^SHA256:/);
  const port = first.sshPort;
  await a.close();
  await first.stop();

  const second = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0, sshPort: port });
  t.after(() => second.stop());
  const pod = await rentedPod(second);
  t.after(() => pod.close());
  return { hostPort, pinned, second, pod };
}

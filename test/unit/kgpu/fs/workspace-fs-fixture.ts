/**
 * A rented pod in a fresh simulator (REST + bastion + pod runtime) for the file-system tests:
 * a throwaway ed25519 key pinned at rent time, a REST client, a connector through the bastion,
 * WorkspaceFs instances on it, and the pod's /workspace as a host folder to check results with.
 */
import path from 'node:path';
import { utils } from 'ssh2';
import { startSimulator, type Simulator } from '../../../sim/index';
import { KgpuClient } from '../../../../src/kgpu/api/api-client';
import { MemoryHostKeyStore } from '../../../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { describeEndReason } from '../../../../src/kgpu/model/end-reason';
import { WorkspaceFs, type WorkspaceFsOptions } from '../../../../src/kgpu/fs/workspace-fs';

export interface WsFixture {
  sim: Simulator;
  client: KgpuClient;
  podId: string;
  /** The pod's /workspace on this machine. */
  hostDir: string;
  /** Host path of a pod path under /workspace. */
  host(podPath: string): string;
  connector: PodConnector;
  /** A WorkspaceFs on the pod (disposed by stop()). */
  fs(options?: Partial<WorkspaceFsOptions>): WorkspaceFs;
  stop(): Promise<void>;
}

export async function startWsFixture(): Promise<WsFixture> {
  const sim = await startSimulator({ clockSpeed: 0 });
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  const stoppers: (() => unknown)[] = [];
  try {
    const key = ed25519KeyPair();
    const rent = await client.rent({ gpu_model: 'v100', gpu_count: 1, ssh_pubkey: key.public });
    const podId = rent.pod_id;
    await waitUntil('the pod to be ready', async () => (await client.getPod(podId)).ready);
    const record = sim.state.pods.get(podId);
    const hostDir = record?.handle?.workspaceDir;
    if (!hostDir) throw new Error('the simulator has no workspace dir for the pod');
    const connector = new PodConnector({
      host: sim.sshHost,
      port: sim.sshPort,
      privateKey: key.private,
      hostKeys: new MemoryHostKeyStore(),
      readyTimeoutMs: 10_000,
    });
    stoppers.push(() => connector.dispose());
    return {
      sim,
      client,
      podId,
      hostDir,
      host: (p) => path.join(hostDir, path.posix.relative('/workspace', p)),
      connector,
      fs(options = {}) {
        const fs = new WorkspaceFs({
          podId,
          connector: async () => connector,
          checkEnded: async () => {
            const pod = await client.getPod(podId);
            return pod.phase === 'Pending' || pod.phase === 'Running' ? undefined : describeEndReason(pod.end_reason).label;
          },
          ...options,
        });
        stoppers.push(() => fs.dispose());
        return fs;
      },
      async stop() {
        for (const s of stoppers.reverse()) await s();
        await client.close();
        await sim.stop();
      },
    };
  } catch (e) {
    await client.close();
    await sim.stop();
    throw e;
  }
}

import { waitFor as waitUntil } from '../../wait-for';
export { waitUntil };

/** A throwaway ed25519 key pair. ssh2 1.17's generateKeyPairSync writes a malformed public key
 *  (31-byte key, leading zero dropped) for about 1 key in 220; draw again until it is well-formed. */
export function ed25519KeyPair(): { private: string; public: string } {
  for (;;) {
    const k = utils.generateKeyPairSync('ed25519');
    const blob = Buffer.from(k.public.split(' ')[1] ?? '', 'base64');
    if (blob.length === 4 + 11 + 4 + 32 && blob.readUInt32BE(15) === 32) return k;
  }
}

/**
 * Set-up for the reliability suite: ONE fresh simulator (REST + bastion + pod runtime) per test,
 * N ready pods each with its own throwaway ed25519 key pinned at rent time, and the library's real
 * pieces on top — KgpuClient, PodConnector, PodCommands, WorkspaceFs, JobRunner. Nothing of ours
 * is mocked. `stop()` disposes everything and stops the simulator (use it in `t.after`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../sim/index';
import { KgpuClient, type KgpuClientOptions } from '../../../src/kgpu/api/api-client';
import { describeEndReason } from '../../../src/kgpu/model/end-reason';
import { MemoryHostKeyStore, type HostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { JobRunner, type KeyValueStore } from '../../../src/kgpu/jobs/job-runner';
import { podCommands, type PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { PodConnector, type PodConnectorOptions } from '../../../src/kgpu/ssh/ssh-connection';
import { WorkspaceFs, type WorkspaceFsOptions } from '../../../src/kgpu/fs/workspace-fs';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';

export const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

import { MapStore } from '../kgpu/jobs/run-fixture';
export { MapStore };

export interface FleetPod {
  podId: string;
  /** The pod's /workspace on this machine. */
  hostDir: string;
  /** Host path of a pod path under /workspace. */
  host(podPath: string): string;
  privateKey: string;
  /** A new connector (as a new window would build); disposed by stop(). */
  connector(options?: Partial<PodConnectorOptions>): PodConnector;
  commands(): PodCommands;
  /** A shell line in the pod over SSH; stdout; throws on a non-zero exit. */
  sh(line: string): Promise<string>;
  /** A WorkspaceFs on the pod, asking the REST API whether the pod ended after a transport failure. */
  fs(options?: Partial<WorkspaceFsOptions>): WorkspaceFs;
}

export interface Fleet {
  sim: Simulator;
  client: KgpuClient;
  pods: FleetPod[];
  hostKeys: HostKeyStore;
  /** A JobRunner over the fleet's pods (fresh connection per call); disposed by stop(). */
  runner(o?: { store?: KeyValueStore; pollMs?: number; connector?: Partial<PodConnectorOptions> }): JobRunner;
  /** A temp dir on this machine, removed by stop(). */
  tmp(name: string): string;
  stop(): Promise<void>;
}

export async function startFleet(
  n: number,
  o: { sim?: SimulatorOptions; client?: Partial<KgpuClientOptions>; rent?: Record<string, unknown> } = {},
): Promise<Fleet> {
  const sim = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0, ...o.sim });
  const client = new KgpuClient({
    apiBase: sim.apiBase,
    getToken: async () => sim.token,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    ...o.client,
  });
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-rel-'));
  const stoppers: (() => unknown)[] = [];
  const hostKeys = new MemoryHostKeyStore();
  const byId = new Map<string, FleetPod>();
  try {
    const models = ['v100', 'v100', 'v100', 'v100', 'rtx3090', 'rtx3090'];
    const pods: FleetPod[] = [];
    for (let i = 0; i < n; i++) {
      const key = throwawayEd25519();
      const rented = await client.rent({
        gpu_model: models[i % models.length],
        gpu_count: 1,
        ssh_pubkey: key.public,
        name: `rel-${i}`,
        ...o.rent,
      });
      pods.push(makePod(rented.pod_id, key.private));
    }
    for (const p of pods) await client.waitUntilReady(p.podId, { intervalMs: 10, pollFloorMs: 0 });
    for (const p of pods) {
      const dir = sim.state.pods.get(p.podId)?.handle?.workspaceDir;
      if (!dir) throw new Error(`the simulator has no workspace dir for ${p.podId}`);
      p.hostDir = dir;
    }
    return {
      sim,
      client,
      pods,
      hostKeys,
      runner({ store = new MapStore(), pollMs = 0, connector } = {}) {
        const r = new JobRunner({ commands: async (podId) => podCommands(byId.get(podId)!.connector(connector)), store, pollMs });
        stoppers.push(() => r.dispose());
        return r;
      },
      tmp(name) {
        const d = path.join(tmpRoot, name);
        fs.mkdirSync(d, { recursive: true });
        return d;
      },
      async stop() {
        for (const s of stoppers.reverse()) await s();
        await client.close();
        await sim.stop();
        fs.rmSync(tmpRoot, { recursive: true, force: true });
      },
    };
  } catch (e) {
    for (const s of stoppers.reverse()) await s();
    await client.close();
    await sim.stop();
    fs.rmSync(tmpRoot, { recursive: true, force: true });
    throw e;
  }

  function makePod(podId: string, privateKey: string): FleetPod {
    const pod: FleetPod = {
      podId,
      hostDir: '',
      host: (p) => path.join(pod.hostDir, path.posix.relative('/workspace', p)),
      privateKey,
      connector(options = {}) {
        // Copied with their getters (a timeout that depends on the test's phase is read at each connection).
        const c = new PodConnector(
          Object.defineProperties(
            { host: sim.sshHost, port: sim.sshPort, privateKey, hostKeys, readyTimeoutMs: 10_000 },
            Object.getOwnPropertyDescriptors(options),
          ),
        );
        stoppers.push(() => c.dispose());
        return c;
      },
      commands: () => podCommands(pod.connector()),
      async sh(line) {
        const r = await pod.commands().exec(line);
        if (r.exitCode !== 0) throw new Error(`pod command failed (${r.exitCode ?? r.signal}): ${line}\n${r.stderr.toString()}`);
        return r.stdout.toString('utf8');
      },
      fs(options = {}) {
        const connector = pod.connector();
        const wfs = new WorkspaceFs({
          podId,
          connector: async () => connector,
          checkEnded: async () => {
            const p = await client.getPod(podId);
            return p.phase === 'Pending' || p.phase === 'Running' ? undefined : describeEndReason(p.end_reason).label;
          },
          ...options,
        });
        stoppers.push(() => wfs.dispose());
        return wfs;
      },
    };
    byId.set(podId, pod);
    return pod;
  }
}

export { waitFor } from '../wait-for';

/** Write a file into the pod through SSH (stdin), creating its folder. */
export async function podWrite(pod: FleetPod, podPath: string, content: string | Buffer): Promise<void> {
  const r = await pod.commands().exec(['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1"', 'sh', podPath], { stdin: content });
  if (r.exitCode !== 0) throw new Error(`writing ${podPath} failed: ${r.stderr.toString()}`);
}

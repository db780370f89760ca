/**
 * Set-up for the run-feature tests: a full simulator (REST + bastion + pods), one rented pod that
 * is ready, a KgpuClient and a PodConnector with a throwaway key pinned to the pod, and a
 * Map-backed store standing in for workspaceState. Everything is closed by `stop()`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../sim/index';
import { KgpuClient } from '../../../../src/kgpu/api/api-client';
import type { Pod } from '../../../../src/kgpu/api/api-types';
import { MemoryHostKeyStore } from '../../../../src/kgpu/ssh/host-keys';
import { podCommands, type PodCommands } from '../../../../src/kgpu/ssh/pod-commands';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import type { KeyValueStore } from '../../../../src/kgpu/jobs/job-runner';
import { throwawayEd25519 } from '../api/api-fixture';

export class MapStore implements KeyValueStore {
  readonly map = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.map.get(key) as T | undefined;
  }
  update(key: string, value: unknown): Promise<void> {
    this.map.set(key, JSON.parse(JSON.stringify(value)) as unknown);
    return Promise.resolve();
  }
}

export interface RunFixture {
  sim: Simulator;
  client: KgpuClient;
  podId: string;
  pod(): Promise<Pod>;
  /** A new connector for the pod (as a new window would build). */
  connector(): PodConnector;
  commands(): PodCommands;
  /** Run a shell line in the pod over SSH; stdout; throws on a non-zero exit. */
  sh(line: string): Promise<string>;
  /** A temp dir removed by stop(). */
  tmp(name: string): string;
  stop(): Promise<void>;
}

export async function startRunFixture(simOptions: SimulatorOptions = {}, rent: Record<string, unknown> = {}): Promise<RunFixture> {
  const sim = await startSimulator({ clockSpeed: 0, ...simOptions });
  const client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  const key = throwawayEd25519();
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-run-test-'));
  const connectors: PodConnector[] = [];
  const hostKeys = new MemoryHostKeyStore();
  try {
    const rented = await client.rent({ gpu_model: 'rtx4090', ssh_pubkey: key.public, ...rent });
    await client.waitUntilReady(rented.pod_id, { intervalMs: 20, pollFloorMs: 0 });
    const connector = (): PodConnector => {
      const c = new PodConnector({ host: sim.sshHost, port: sim.sshPort, privateKey: key.private, hostKeys, readyTimeoutMs: 10_000 });
      connectors.push(c);
      return c;
    };
    const commands = (): PodCommands => podCommands(connector());
    return {
      sim,
      client,
      podId: rented.pod_id,
      pod: () => client.getPod(rented.pod_id),
      connector,
      commands,
      async sh(line) {
        const r = await commands().exec(line);
        if (r.exitCode !== 0) throw new Error(`pod command failed (${r.exitCode ?? r.signal}): ${line}\n${r.stderr.toString()}`);
        return r.stdout.toString('utf8');
      },
      tmp(name) {
        const d = path.join(tmpRoot, name);
        fs.mkdirSync(d, { recursive: true });
        return d;
      },
      async stop() {
        for (const c of connectors) c.dispose();
        client.close();
        await sim.stop();
        fs.rmSync(tmpRoot, { recursive: true, force: true });
      },
    };
  } catch (e) {
    client.close();
    await sim.stop();
    fs.rmSync(tmpRoot, { recursive: true, force: true });
    throw e;
  }
}

export { waitFor } from '../../wait-for';

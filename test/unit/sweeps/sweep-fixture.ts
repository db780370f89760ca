/**
 * The sweep tests' world (issue 23): the simulator with three ready pods (rtx3080, rtx5090,
 * rtx3090, each with its own key), a shell in each, project folders holding a small train.py whose
 * runs print their arguments and metrics (and wait while a `hold` file exists), and the pods' rates.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { startSimulator, type Simulator } from '../../sim/index';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { isLivePod } from '../../../src/kgpu/api/api-types';
import { podRatePerHour } from '../../../src/kgpu/model/cost';
import { MemoryHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { podCommands, type PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';

const TRAIN = `import argparse, json, os, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--bs", type=int, default=1)
a = p.parse_args()
print(f"args lr={a.lr} bs={a.bs} pid={os.getpid()}", flush=True)
print(json.dumps({"metric": "started", "value": 1}), flush=True)
while os.path.exists("hold"):
    time.sleep(0.05)
print(json.dumps({"metric": "loss", "value": a.lr * a.bs}))
print(json.dumps({"acc": a.bs / 100, "step": 7}))
`;

export interface SweepPods {
  /** The client of the simulator's primary account (set once the pods are ready). */
  client: KgpuClient;
  /** Three ready pods. */
  readonly pods: string[];
  /** A folder for the test's projects. */
  tmp: string;
  /** Commands in a pod over a new connection (disposed after the file's tests). */
  commands(podId: string): PodCommands;
  /** A shell line in a pod: its stdout; throws on a non-zero exit. */
  sh(podId: string, line: string): Promise<string>;
  /** A project folder under tmp with train.py (and a `hold` file when `hold`). */
  project(name: string, hold: boolean): string;
  /** Each pod's rate in credits per hour. */
  rates(): Promise<Map<string, number>>;
  isPodLive(podId: string): Promise<boolean>;
}

/** Registers the file's before/after: the simulator and its three pods, then their teardown. */
export function useSweepPods(): SweepPods {
  let sim: Simulator;
  const all: PodConnector[] = [];
  const hostKeys = new MemoryHostKeyStore();
  const keys = new Map<string, string>();
  const f: SweepPods = {
    client: undefined as unknown as KgpuClient,
    pods: [],
    tmp: '',
    commands(podId) {
      const c = new PodConnector({ host: sim.sshHost, port: sim.sshPort, privateKey: keys.get(podId)!, hostKeys, readyTimeoutMs: 10_000 });
      all.push(c);
      return podCommands(c);
    },
    async sh(podId, line) {
      const r = await f.commands(podId).exec(line);
      if (r.exitCode !== 0) throw new Error(`${line}: ${r.stderr.toString()}`);
      return r.stdout.toString();
    },
    project(name, hold) {
      const dir = path.join(f.tmp, name);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'train.py'), TRAIN);
      if (hold) fs.writeFileSync(path.join(dir, 'hold'), '');
      return dir;
    },
    async rates() {
      const m = new Map<string, number>();
      for (const p of f.pods) m.set(p, podRatePerHour(await f.client.getPod(p))!);
      return m;
    },
    async isPodLive(podId) {
      return isLivePod(await f.client.getPod(podId));
    },
  };
  before(async () => {
    sim = await startSimulator({ clockSpeed: 0 });
    f.client = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => sim.token, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
    f.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-sweep-test-'));
    for (const model of ['rtx3080', 'rtx5090', 'rtx3090']) {
      const key = throwawayEd25519();
      const rented = await f.client.rent({ gpu_model: model, ssh_pubkey: key.public });
      await f.client.waitUntilReady(rented.pod_id, { intervalMs: 20, pollFloorMs: 0 });
      f.pods.push(rented.pod_id);
      keys.set(rented.pod_id, key.private);
    }
  });
  after(async () => {
    for (const c of all) c.dispose();
    await f.client?.close();
    await sim?.stop();
    if (f.tmp) fs.rmSync(f.tmp, { recursive: true, force: true });
  });
  return f;
}

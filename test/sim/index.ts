/**
 * The kgpu simulator, importable: `startSimulator(options) → Simulator`. One process, one shared
 * state: the REST API (rest.ts + routes-*.ts), the clock, billing, transit objects, fault
 * injection, the pods' runtime (pods.ts) and the SSH bastion (bastion.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimClockImpl } from './clock';
import type { Bastion, CreatePodRuntime, EndReason, PodRuntime, StartBastion } from './contracts';
import { RestFaults, parseFaultSpec, type FaultRule } from './faults';
import { DEFAULT_FLEET, loadFleetFile, parseFleet, type Fleet } from './fleet';
import { DEFAULT_OBJECT_LIMITS, ObjectStore, type ObjectLimits } from './objects';
import { openApiDocument } from './openapi';
import { startRestServer, type RestServer } from './rest';
import { accountRoutes } from './routes-account';
import { objectRoutes } from './routes-objects';
import { createStandInPodRuntime } from './pods-standin';
import { startPackageIndex, type PackageIndex } from './package-index';
import { listenForPods, type PodReachServer } from './pod-reach';
import { podRoutes } from './routes-pods';
import { SimState } from './state';

export { SimClockImpl } from './clock';
export type { FaultRule } from './faults';
export type { Fleet, FleetModel } from './fleet';
export type { ObjectLimits } from './objects';
export type { SimState, PodRecord, Account } from './state';
export type { RestFaults } from './faults';
export type { PackageIndex, IndexedFile } from './package-index';

export interface SimulatorOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** REST port (default 0 = a free port). */
  port?: number;
  /** SSH bastion port (default 0 = a free port). */
  sshPort?: number;
  /** Pods' disks, objects, host key and account token live here. Default: a temp dir removed by stop(). */
  stateDir?: string;
  /** Simulated time runs this many times faster than wall time; 0 freezes it (only clock.advance moves it). Default 1. */
  clockSpeed?: number;
  /** Simulated start time (ms since epoch; default now). */
  clockStart?: number;
  /** Simulated ms a pod stays Pending after its runtime is up (default 0). */
  coldStartMs?: number;
  /** GPU classes: a Fleet object, an array of models, or the path of a fleet JSON file. Default: the contract's five. */
  fleet?: Fleet | Fleet['models'] | string;
  /** Starting balance of the account (default 100 000). */
  credits?: number;
  /** Images that exist besides kgpu-pytorch:latest (added to the fleet's). */
  images?: string[];
  /** REST faults to install at start (rules or a --faults spec string). */
  faults?: FaultRule[] | string;
  /** Transit-object limits (tests shrink them). */
  objectLimits?: Partial<ObjectLimits>;
  /** Bytes of pod disk per GiB of ephemeral_storage_gib (tests shrink it to test eviction). Default 2^30. */
  diskBytesPerGib?: number;
  /** Wall ms between disk-eviction checks of every live pod (default 1000; 0 = only sim.state.checkDisks()). */
  diskCheckIntervalMs?: number;
  /** Keep the account token in <stateDir>/account.json across restarts (default: true when stateDir is given). */
  persistToken?: boolean;
}

export interface Simulator {
  /** e.g. http://127.0.0.1:41234/v1 */
  readonly apiBase: string;
  /** e.g. http://127.0.0.1:41234 (presigned object URLs live at /_objects/…) */
  readonly origin: string;
  /** The account token (changes after reissueToken()). */
  readonly token: string;
  readonly sshHost: string;
  readonly sshPort: number;
  readonly stateDir: string;
  readonly clock: SimClockImpl;
  readonly faults: RestFaults;
  readonly state: SimState;
  readonly objects: ObjectStore;
  readonly bastion: Bastion;
  /** The pods' stand-in for PyPI (package-index.ts): its URL is their PIP_INDEX_URL. */
  readonly packageIndex: PackageIndex;
  /** Which pod runtime is in use: the real one (./pods) or the stand-in (before pods.ts existed). */
  readonly runtimeKind: 'pods' | 'standin';
  /** Revoke the account token and return a fresh one (the dashboard's Reissue). */
  reissueToken(): string;
  /** The in-pod token of a pod (what its processes see as KGPU_API_TOKEN). */
  podToken(podId: string): string;
  /** Another account, for cross-account tests. */
  addAccount(o?: { credits?: number; name?: string; email?: string }): { userId: string; token: string };
  /** End a pod now (same as faults.endPod). */
  endPod(podId: string, reason: EndReason): Promise<void>;
  /** Resolves when every pod teardown/creation under way has finished. */
  settled(): Promise<void>;
  /** Ends every pod, stops the servers, removes a temp state dir. Idempotent. */
  stop(): Promise<void>;
}

function resolveFleet(o: SimulatorOptions): Fleet {
  const base =
    o.fleet === undefined ? DEFAULT_FLEET : typeof o.fleet === 'string' ? loadFleetFile(o.fleet) : parseFleet(o.fleet, 'options.fleet');
  return { models: base.models, images: [...base.images, ...(o.images ?? [])] };
}

/** ./pods and ./bastion are written separately; until they exist the simulator still runs. */
async function loadOptional<T>(file: string, exportName: string): Promise<T | undefined> {
  if (!existsSync(join(__dirname, `${file}.ts`)) && !existsSync(join(__dirname, `${file}.js`))) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional sibling module, resolved at run time
  const mod = require(join(__dirname, file)) as Record<string, unknown>;
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new Error(`test/sim/${file} does not export ${exportName}`);
  return fn as T;
}

/** The Python that builds the index's wheels: the pods' own when pods.ts is there, else python3. */
function pythonForIndex(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional sibling module, as loadOptional
    return (require(join(__dirname, 'pods')) as { realPython(): { exe: string } }).realPython().exe;
  } catch {
    return 'python3';
  }
}

function nullBastion(host: string): Bastion {
  return {
    host,
    port: 0,
    counters: { connections: 0, refusedChannels: 0, refusedSubsystems: 0, refusedForwards: 0, authFailures: 0 },
    dropConnections: () => undefined,
    cutNewConnections: () => () => undefined,
    pause: () => undefined,
    paused: false,
    resume: () => undefined,
    closePod: () => undefined,
    stop: async () => undefined,
  };
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const fleet = resolveFleet(options);
  const rules = typeof options.faults === 'string' ? parseFaultSpec(options.faults) : (options.faults ?? []);
  const probe = new RestFaults(async () => undefined);
  for (const r of rules) probe.add(r); // validate before anything starts
  const credits = options.credits ?? 100_000;
  if (!(credits >= 0)) throw new Error(`credits must be ≥ 0, got ${credits}`);
  const tempDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'kgpu-sim-'));
  mkdirSync(stateDir, { recursive: true });
  const persistToken = options.persistToken ?? !tempDir;
  const tokenFile = join(stateDir, 'account.json');
  let initialToken: string | undefined;
  if (persistToken && existsSync(tokenFile)) {
    try {
      const saved = JSON.parse(readFileSync(tokenFile, 'utf8')) as { token?: unknown };
      if (typeof saved.token === 'string' && /^kgpu_[A-Za-z0-9]+$/.test(saved.token)) initialToken = saved.token;
    } catch {
      /* unreadable: mint a fresh token */
    }
  }
  const saveToken = (token: string): void => {
    if (persistToken) writeFileSync(tokenFile, `${JSON.stringify({ token })}\n`, { mode: 0o600 });
  };

  const clock = new SimClockImpl(options.clockSpeed ?? 1, options.clockStart);
  const createPods = await loadOptional<CreatePodRuntime>('pods', 'createPodRuntime');
  const runtimeKind = createPods ? 'pods' : 'standin';
  const podsDir = join(stateDir, 'pods');
  mkdirSync(podsDir, { recursive: true });
  let runtime: PodRuntime;
  if (createPods) runtime = createPods({ stateDir: podsDir });
  else runtime = createStandInPodRuntime({ stateDir: podsDir });

  let rest: RestServer | undefined;
  let podNet: PodReachServer | undefined;
  let index: PackageIndex | undefined;
  let bastion: Bastion = nullBastion(host);
  const state = new SimState({
    clock,
    fleet,
    runtime,
    credits,
    coldStartMs: options.coldStartMs ?? 0,
    apiBase: () => `${rest?.origin ?? `http://${host}:0`}/v1`,
    podReach: () => podNet?.reach,
    packageIndexUrl: () => index?.url,
    bastion: () => bastion,
    diskBytesPerGib: options.diskBytesPerGib,
    initialToken,
  });
  saveToken(state.token);
  const objects = new ObjectStore({
    dir: join(stateDir, 'objects'),
    clock,
    limits: { ...DEFAULT_OBJECT_LIMITS, ...options.objectLimits },
    origin: () => rest?.origin ?? `http://${host}:0`,
  });
  const endPod = async (podId: string, reason: EndReason): Promise<void> => {
    const pod = state.pods.get(podId);
    if (!pod) throw new Error(`no pod ${podId}`);
    await state.end(pod, reason);
  };
  const faults = new RestFaults(endPod);
  for (const r of rules) faults.add(r);

  let openapi: Record<string, unknown> | undefined;
  const routes = [
    ...accountRoutes(state, objects.limits, () => (openapi ??= openApiDocument(`${rest!.origin}/v1`))),
    ...podRoutes(state),
    ...objectRoutes(objects),
  ];
  try {
    rest = await startRestServer({ host, port: options.port ?? 0, routes, state, objects, faults });
    index = await startPackageIndex({ host, python: pythonForIndex() });
    if (runtimeKind === 'pods') {
      podNet = await listenForPods(
        [
          { http: rest.server, host, port: rest.port, socket: 'api.sock' },
          { http: index.server, host, port: index.port, socket: 'index.sock' },
        ],
        { stateDir },
      );
    }
    const startBastion = await loadOptional<StartBastion>('bastion', 'startBastion');
    if (startBastion)
      bastion = await startBastion({
        directory: state,
        hostKeyPath: join(stateDir, 'ssh_host_ed25519_key'),
        host,
        port: options.sshPort ?? 0,
      });
  } catch (e) {
    await podNet?.close();
    await index?.close();
    await rest?.close();
    await runtime.shutdown().catch(() => undefined);
    clock.stop();
    if (tempDir) rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  const server = rest;
  const packageIndex = index!;
  const diskEvery = options.diskCheckIntervalMs ?? 1000;
  const diskTimer =
    diskEvery > 0 ? setInterval(() => void state.checkDisks({ ifIdle: true }).catch(() => undefined), diskEvery) : undefined;
  diskTimer?.unref();

  let stopping: Promise<void> | undefined;
  const sim: Simulator = {
    apiBase: `${server.origin}/v1`,
    origin: server.origin,
    get token() {
      return state.token;
    },
    get sshHost() {
      return bastion.host;
    },
    get sshPort() {
      return bastion.port;
    },
    stateDir,
    clock,
    faults,
    state,
    objects,
    get bastion() {
      return bastion;
    },
    packageIndex,
    runtimeKind,
    reissueToken() {
      const t = state.reissueToken();
      saveToken(t);
      return t;
    },
    podToken(podId: string) {
      const pod = state.pods.get(podId);
      if (!pod) throw new Error(`no pod ${podId}`);
      return pod.podToken;
    },
    addAccount(o) {
      const { account, token } = state.addAccount(o);
      return { userId: account.user_id, token };
    },
    endPod,
    settled: () => state.settled(),
    stop() {
      stopping ??= (async () => {
        faults.clear();
        if (diskTimer) clearInterval(diskTimer);
        await podNet?.close();
        await packageIndex.close();
        await server.close();
        await bastion.stop().catch((e: unknown) => console.error(`kgpu-sim: stopping the bastion: ${(e as Error).message}`));
        await state.endAll('returned');
        await runtime.shutdown().catch((e: unknown) => console.error(`kgpu-sim: shutting the pods down: ${(e as Error).message}`));
        objects.dispose();
        clock.stop();
        if (tempDir) rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  return sim;
}

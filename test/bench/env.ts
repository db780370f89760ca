/**
 * The bench's world: the kgpu simulator in its OWN process (as the real bastion is another
 * machine: in our process its ssh2 server would share our event loop and slow our client down,
 * while the reference tools run as separate processes), one pod rented through our REST client
 * with a throwaway key, a PodConnector to it, and the same key written to a file for the
 * reference OpenSSH clients (ssh, scp -O, sftp -s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { utils } from 'ssh2';
import { KgpuClient } from '../../src/kgpu/api/api-client';
import { MemoryHostKeyStore } from '../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../src/kgpu/ssh/ssh-connection';
import { podCommands, type PodCommands } from '../../src/kgpu/ssh/pod-commands';
import type { Link } from './links/link';

export const repoRoot = path.join(__dirname, '..', '..');

/** How the clients reach the bastion: directly, or through a latency proxy (via()). */
export interface Transport {
  /** Port the clients connect to. */
  port: number;
  connector: PodConnector;
  pod: PodCommands;
  /** The pins our connector made (trust on first use), "host:port" → "SHA256:…". */
  hostKeys: MemoryHostKeyStore;
  /** `ssh` argv (without the program) for a one-shot command in the pod. */
  sshArgs(remoteCommand: string): string[];
  /** `scp -O` argv (without the program). */
  scpArgs(...paths: string[]): string[];
  /** Commands over a new PodConnector with 2 spare connections, as the editor's connection router
   *  (src/platform/connections.ts) builds it; disposed by close(). */
  sparePod(): PodCommands;
}

export interface BenchEnv extends Transport {
  apiBase: string;
  sshHost: string;
  sshPort: number;
  podId: string;
  /** Private key (OpenSSH format) pinned to the pod, for our code. */
  privateKey: string;
  /** The same key as a file, for the OpenSSH reference clients. */
  keyFile: string;
  connector: PodConnector;
  pod: PodCommands;
  /** Process id of the simulator (its bastion and pod runtime), e.g. to read its CPU time. */
  simPid: number;
  /** A scratch folder on this machine, removed by close(). */
  tmp: string;
  /** Options every OpenSSH client gets (no known_hosts prompts, this key only, no agent). */
  sshOptions: string[];
  /** The same clients connecting to another port of this host (a proxy in front of the bastion). */
  via(port: number): Transport;
  /** The emulated link every client crosses to the bastion (absent: plain loopback). */
  link?: Link;
  /** Connections opened through the link so far — each is one SSH handshake (null: not counted). */
  handshakes(): Promise<number | null>;
  /** `user@host:` prefix for scp paths. */
  remote(p: string): string;
  /** Run a shell line in the pod through our exec; stdout; throws on a non-zero exit. */
  sh(line: string, stdin?: Buffer): Promise<string>;
  close(): Promise<void>;
}

/** A throwaway ed25519 pair that both ssh2 and OpenSSH parse (ssh2 1.17.0 sometimes mints an
 *  unparseable one: mscdex/ssh2#1513 — draw again). */
function throwawayKey(): { public: string; private: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function startSimProcess(link: Link | undefined): { child: ChildProcess; output: () => string } {
  // Its ready lines (KGPU_API_BASE=…, KGPU_API_TOKEN=…, SSH bastion: host:port) are read from
  // stdout. (Not --env-file: Node 20 takes that flag for itself wherever it appears.) Behind an
  // emulated link it runs in the link's namespace (on that namespace's loopback).
  const args = ['--import', 'tsx', path.join(repoRoot, 'test', 'sim', 'cli.ts'), '--cold-start-ms', '0'];
  const argv = link ? link.wrap(process.execPath, args) : { cmd: process.execPath, args };
  const child = spawn(argv.cmd, argv.args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer): void => {
    if (out.length < 65536) out += b.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => out };
}

/** The simulator's settings from its ready lines, once they are all there. */
function parseReady(text: string): { apiBase: string; token: string; sshHost: string; sshPort: number } | undefined {
  const apiBase = /KGPU_API_BASE=(\S+)/.exec(text)?.[1];
  const token = /KGPU_API_TOKEN=(\S+)/.exec(text)?.[1];
  const ssh = /SSH bastion: (\S+):(\d+)/.exec(text);
  if (!apiBase || !token || !ssh) return undefined;
  return { apiBase, token, sshHost: ssh[1], sshPort: Number(ssh[2]) };
}

/** Never print the simulator's output as is: it holds the (simulator) account token. */
const redact = (text: string): string => text.replace(/kgpu_[A-Za-z0-9_.]+/g, 'kgpu_…');

/** The bench's world; with `link`, the simulator sits behind it and every client crosses it. */
export async function startBenchEnv(link?: Link): Promise<BenchEnv> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-bench-'));
  const sim = startSimProcess(link);
  let exited = false;
  sim.child.on('exit', () => (exited = true));
  const cleanups: (() => Promise<void> | void)[] = [];
  const stopSim = async (): Promise<void> => {
    if (exited) return;
    const gone = new Promise<void>((r) => sim.child.once('exit', () => r()));
    sim.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
    clearTimeout(timer);
    if (!exited) sim.child.kill('SIGKILL');
  };
  try {
    const ready = await waitFor(
      'the simulator to start',
      () => {
        if (exited) throw new Error(`bench: the simulator exited:\n${redact(sim.output())}`);
        return parseReady(sim.output());
      },
      30_000,
    );
    if (!(ready.sshPort > 0)) throw new Error('bench: the simulator has no SSH bastion');
    const { token } = ready;
    // REST (rent, release) crosses the link without the delay: set-up, not measured.
    let apiBase = ready.apiBase;
    if (link) {
      const api = new URL(ready.apiBase);
      const f = await link.front({ host: api.hostname, port: Number(api.port) }, { plain: true });
      apiBase = `${api.protocol}//${f.host}:${f.port}${api.pathname}`;
    }
    // Every SSH client (ours, OpenSSH, the scenarios' own) goes through the link's front door.
    const front = link ? await link.front({ host: ready.sshHost, port: ready.sshPort }) : { host: ready.sshHost, port: ready.sshPort };
    const sshHost = front.host;
    const sshPort = front.port;

    const client = new KgpuClient({ apiBase, getToken: async () => token });
    cleanups.push(() => client.close());
    const key = throwawayKey();
    // A CPU-only v100-class pod: the bench needs no GPU.
    const rent = await client.rent({ name: 'bench', gpu_model: 'v100', gpu_count: 1, ssh_pubkey: key.public });
    const podId = rent.pod_id;
    cleanups.push(async () => {
      await client.release(podId).catch(() => undefined);
    });
    await waitFor('the pod to be ready', async () => (await client.getPod(podId)).ready, 30_000);

    const keyFile = path.join(tmp, 'id_ed25519');
    fs.writeFileSync(keyFile, key.private, { mode: 0o600 });
    const sshOptions = [
      '-i',
      keyFile,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
    ];
    const transport = (port: number): Transport => {
      const hostKeys = new MemoryHostKeyStore();
      const options = { host: sshHost, port, privateKey: key.private, hostKeys, readyTimeoutMs: 20_000 };
      const connector = new PodConnector(options);
      cleanups.push(() => connector.dispose());
      return {
        port,
        connector,
        hostKeys,
        pod: podCommands(connector),
        sshArgs: (cmd) => [...sshOptions, '-p', String(port), `kgpu@${sshHost}`, cmd],
        scpArgs: (...paths) => ['-O', ...sshOptions, '-P', String(port), ...paths],
        sparePod: () => {
          const c = new PodConnector({ ...options, spareConnections: 2 });
          cleanups.push(() => c.dispose());
          return podCommands(c);
        },
      };
    };
    const direct = transport(sshPort);
    const pod = direct.pod;
    const env: BenchEnv = {
      ...direct,
      via: transport,
      link,
      handshakes: async () => (link ? link.connections() : null),
      apiBase,
      sshHost,
      sshPort,
      podId,
      privateKey: key.private,
      keyFile,
      tmp,
      simPid: sim.child.pid ?? 0,
      sshOptions,
      remote: (p) => `kgpu@${sshHost}:${p}`,
      async sh(line, stdin) {
        const r = await pod.exec(line, stdin ? { stdin } : {});
        if (r.exitCode !== 0)
          throw new Error(`bench: pod command failed (${r.exitCode ?? r.signal}): ${line.slice(0, 200)}\n${r.stderr.toString('utf8')}`);
        return r.stdout.toString('utf8');
      },
      async close() {
        for (const c of cleanups.reverse()) await c();
        await stopSim();
        fs.rmSync(tmp, { recursive: true, force: true });
      },
    };
    return env;
  } catch (e) {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await stopSim();
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The simulated pods' processes and disks (issue 5). Each pod is a directory under the state dir
 * (`<podId>/workspace`, `<podId>/tmp`) and one long-lived init process (pod-init.py) in its own
 * mount + PID namespaces (`unshare --mount --pid --fork --mount-proc --propagation private`), where
 * bind mounts put the pod's directories at /workspace and /tmp. Every process of the pod enters
 * those namespaces with `nsenter -t <init> -m -p`; destroying the pod kills the init, and the
 * kernel then kills every process of the pod (detached `setsid -f` jobs included).
 *
 * Needs root (or CAP_SYS_ADMIN) and util-linux's unshare/nsenter; create() fails with a message
 * that says so otherwise.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { CreatePodRuntime, ExecResult, PodHandle, PodProcess, PodRuntimeSpec, SpawnOptions } from './contracts';

const HERE = __dirname;
/** Inside a pod, /tmp is the pod's own: a checkout under the host's /tmp (a CI clone, say) would be
 *  hidden there. So the simulator's own files (the init, the PTY helper, the image's shims) are
 *  bind-mounted at a fixed path first, and pods use them from there. */
const IMAGE_MOUNT = '/run/kgpu-sim';
const POD_INIT = join(IMAGE_MOUNT, 'pod-init.py');
const PTY_HELPER = join(IMAGE_MOUNT, 'pty-helper.py');
const IMAGE_BIN = join(IMAGE_MOUNT, 'image', 'bin');
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The machine's real Python (not a pyenv shim): what `python` is inside a pod. */
let pythonCache: { exe: string; dir: string } | undefined;
export function realPython(): { exe: string; dir: string } {
  if (pythonCache) return pythonCache;
  for (const cand of ['python3', '/usr/bin/python3', 'python']) {
    const r = spawnSync(cand, ['-c', 'import sys;print(sys.executable)'], { encoding: 'utf8' });
    const exe = r.status === 0 ? r.stdout.trim() : '';
    if (exe && existsSync(exe)) {
      const real = realpathSync(exe);
      pythonCache = { exe: real, dir: dirname(exe) };
      return pythonCache;
    }
  }
  throw new Error('kgpu simulator: no python3 on this machine — pods need one (apt-get install python3).');
}

function podPath(): string {
  const py = realPython();
  // The image's shims first, then the real Python's directory (so `python`/`python3` are the
  // interpreter itself, not a shim), then the system.
  return [IMAGE_BIN, py.dir, dirname(py.exe), SYSTEM_PATH].filter((d, i, a) => a.indexOf(d) === i).join(':');
}

function nsRefusedMessage(detail: string): string {
  return (
    `kgpu simulator: cannot create a pod's mount + PID namespaces (${detail.trim() || 'unshare failed'}). ` +
    'Pods need root (or CAP_SYS_ADMIN) and util-linux unshare/nsenter: run the simulator as root, ' +
    'e.g. in the dev container, or inside `unshare --user --map-root-user`.'
  );
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The PID namespace inode of a host process, or undefined when it is gone. */
function pidNs(pid: number | string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Host pids of every process in the PID namespace `ns`. */
function pidsInNs(ns: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (pidNs(name) === ns) out.push(Number(name));
  }
  return out;
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

class Pod implements PodHandle {
  readonly workspaceDir: string;
  private readonly children = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;

  constructor(
    readonly podId: string,
    private readonly root: string,
    private readonly init: ChildProcess,
    /** Host pid of the pod's PID 1. */
    private readonly initPid: number,
    /** The pod's PID namespace (`pid:[inode]`). */
    readonly ns: string,
    private readonly env: Record<string, string>,
    private readonly onGone: (p: Pod) => void,
  ) {
    this.workspaceDir = join(root, 'workspace');
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  private nsenter(argv: string[], env: Record<string, string>, stdio: ('pipe' | 'ignore')[]): ChildProcess {
    if (this.destroying) throw new Error(`pod ${this.podId} has ended`);
    const child = spawn('nsenter', ['-t', String(this.initPid), '-m', '-p', '--wd=/workspace', '--', ...argv], {
      env,
      stdio,
      detached: true, // its own process group: timeouts and hang-ups reach the whole command
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  spawn(command: string | null, options: SpawnOptions = {}): PodProcess {
    const env: Record<string, string> = { ...this.env, ...options.env, PATH: this.env.PATH, HOME: this.env.HOME };
    if (options.stripToken) delete env.KGPU_API_TOKEN;
    // setpriv --pdeathsig: if the nsenter in front of it is killed (PodProcess.child.kill()), the
    // command inside the pod dies too. To reach a whole pipeline, signal the group: -child.pid.
    const shellArgv = ['setpriv', '--pdeathsig', 'KILL', '--', '/bin/bash', ...(command === null ? [] : ['-c', command])];
    if (!options.pty) {
      const child = this.nsenter(shellArgv, env, ['pipe', 'pipe', 'pipe']);
      return { child, resize: () => undefined };
    }
    env.TERM = options.pty.term || 'xterm-256color';
    const cols = Math.max(1, Math.floor(options.pty.cols) || 80);
    const rows = Math.max(1, Math.floor(options.pty.rows) || 24);
    const child = this.nsenter([realPython().exe, PTY_HELPER, String(cols), String(rows), ...shellArgv], env, ['pipe', 'pipe', 'pipe', 'pipe']);
    const ctl = child.stdio[3] as NodeJS.WritableStream | null;
    ctl?.on('error', () => undefined);
    return {
      child,
      resize(c: number, r: number) {
        if (!ctl || child.exitCode !== null || child.signalCode !== null) return;
        ctl.write(`${Math.max(1, Math.floor(c))} ${Math.max(1, Math.floor(r))}\n`);
      },
    };
  }

  exec(argv: string[], o: { stdin?: Buffer; timeoutMs: number; maxOutputBytes: number }): Promise<ExecResult> {
    const started = Date.now();
    return new Promise((resolve) => {
      if (argv.length === 0) {
        resolve({ exit_code: 127, stdout: '', stderr: 'kgpu: empty command\n', duration_ms: 0, truncated: false });
        return;
      }
      let child: ChildProcess;
      try {
        child = this.nsenter(argv, { ...this.env }, ['pipe', 'pipe', 'pipe']);
      } catch (e) {
        resolve({ exit_code: 137, stdout: '', stderr: `${(e as Error).message}\n`, duration_ms: 0, truncated: false });
        return;
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let total = 0;
      let truncated = false;
      const take = (into: Buffer[]) => (c: Buffer) => {
        const room = o.maxOutputBytes - total;
        if (c.length > room) truncated = true;
        if (room <= 0) return;
        const part = c.subarray(0, room);
        total += part.length;
        into.push(part);
      };
      child.stdout!.on('data', take(out));
      child.stderr!.on('data', take(err));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid, 'SIGKILL');
      }, o.timeoutMs);
      let spawnError: Error | undefined;
      child.on('error', (e) => (spawnError = e));
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(o.stdin ?? Buffer.alloc(0));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        // A command that left background processes holding the pipes has ended all the same.
        killGroup(child.pid, 'SIGKILL');
        let stderr = Buffer.concat(err).toString('utf8');
        if (spawnError) stderr += `kgpu: could not start the command: ${spawnError.message}\n`;
        if (timedOut) stderr += `kgpu: command killed after the ${Math.round(o.timeoutMs / 1000)} s timeout\n`;
        const sigNo: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };
        resolve({
          exit_code: spawnError ? 127 : (code ?? 128 + (signal ? (sigNo[signal] ?? 1) : 1)),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr,
          duration_ms: Date.now() - started,
          truncated,
        });
      });
    });
  }

  diskUsageBytes(): Promise<number> {
    if (this.destroying) return Promise.resolve(0);
    return new Promise((resolve) => {
      // du in C is far cheaper than walking in JS; apparent sizes, so limits are deterministic.
      const du = spawn('du', ['-sb', '-x', join(this.root, 'workspace'), join(this.root, 'tmp')], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      du.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      du.on('error', () => resolve(0));
      du.on('close', () => {
        let n = 0;
        for (const line of text.split('\n')) n += Number(line.split('\t')[0]) || 0;
        resolve(n);
      });
    });
  }

  async isBusy(): Promise<boolean> {
    if (this.destroying) return false;
    const pids = pidsInNs(this.ns);
    const before = new Map(pids.map((p) => [p, cpuTicks(p)]));
    const windowMs = 200;
    await new Promise((r) => setTimeout(r, windowMs));
    // > 10 % of one CPU over the window (USER_HZ = 100 on Linux): more than windowMs/100 ticks.
    const threshold = (windowMs / 1000) * 100 * 0.1;
    for (const p of pidsInNs(this.ns)) {
      const delta = cpuTicks(p) - (before.get(p) ?? 0);
      if (delta > threshold) return true;
    }
    return false;
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      // PID 1 dying makes the kernel SIGKILL every process in the namespace.
      try {
        process.kill(this.initPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      for (const c of this.children) killGroup(c.pid, 'SIGKILL');
      // The init was unref'd (a live pod does not keep the process alive); waiting for it must.
      this.init.ref();
      for (const s of [this.init.stdout, this.init.stderr]) (s as unknown as Socket | null)?.ref();
      await waitExit(this.init);
      const deadline = Date.now() + 5000;
      while (pidsInNs(this.ns).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await Promise.all([...this.children].map(waitExit));
      rmSync(this.root, { recursive: true, force: true });
      this.onGone(this);
    })();
    return this.destroying;
  }
}

export const createPodRuntime: CreatePodRuntime = ({ stateDir }) => {
  const pods = new Set<Pod>();
  mkdirSync(stateDir, { recursive: true });
  return {
    async create(spec: PodRuntimeSpec): Promise<PodHandle> {
      if (!/^[A-Za-z0-9._-]+$/.test(spec.podId)) throw new Error(`kgpu simulator: bad pod id ${JSON.stringify(spec.podId)}`);
      const root = join(stateDir, spec.podId);
      const ws = join(root, 'workspace');
      const tmp = join(root, 'tmp');
      mkdirSync(ws, { recursive: true });
      mkdirSync(tmp, { recursive: true, mode: 0o1777 });
      // The bind mounts' targets (empty on the host).
      if (!existsSync('/workspace')) mkdirSync('/workspace');
      mkdirSync(IMAGE_MOUNT, { recursive: true });
      const py = realPython();
      const env: Record<string, string> = {
        ...spec.env,
        PATH: podPath(),
        HOME: '/workspace',
        // Interactive shells must not drop dotfiles into the user's /workspace.
        HISTFILE: '/tmp/.bash_history',
        LANG: process.env.LANG ?? 'C.UTF-8',
        SHELL: '/bin/bash',
        USER: 'root',
        LOGNAME: 'root',
      };
      // The init carries the pod's environment, so /proc/1/environ inside the pod shows it.
      const script = `set -e; mount --bind "$3" ${IMAGE_MOUNT}; mount --bind "$1" /workspace; mount --bind "$2" /tmp; chmod 1777 /tmp; shift 3; exec "$@"`;
      const init = spawn(
        'unshare',
        ['--mount', '--pid', '--fork', '--mount-proc', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'kgpu-pod', ws, tmp, HERE, py.exe, POD_INIT, spec.podId, spec.gpuModel, String(spec.gpuCount)],
        { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true },
      );
      let errText = '';
      init.stderr!.setEncoding('utf8').on('data', (d: string) => (errText += d));
      const ready = await new Promise<boolean>((resolve) => {
        let out = '';
        init.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('ready\n')) resolve(true);
        });
        init.on('error', (e) => {
          errText += e.message;
          resolve(false);
        });
        init.on('exit', () => resolve(false));
      });
      if (!ready) {
        rmSync(root, { recursive: true, force: true });
        throw new Error(nsRefusedMessage(errText));
      }
      init.stdout!.resume();
      // A live pod does not keep the simulator's process alive; if that process dies, the init's
      // stdin pipe ends and the pod ends with it.
      for (const s of [init.stdin, init.stdout, init.stderr]) (s as unknown as Socket | null)?.unref();
      init.unref();
      // unshare --fork: the pod's PID 1 is unshare's only child.
      let initPid = 0;
      try {
        initPid = Number(readFileSync(`/proc/${init.pid}/task/${init.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
      } catch {
        /* handled below */
      }
      const ns = initPid ? pidNs(initPid) : undefined;
      if (!initPid || !ns) {
        killGroup(init.pid, 'SIGKILL');
        rmSync(root, { recursive: true, force: true });
        throw new Error(nsRefusedMessage(`could not find the pod's init process${errText ? `: ${errText}` : ''}`));
      }
      const pod = new Pod(spec.podId, root, init, initPid, ns, env, (p) => pods.delete(p));
      pods.add(pod);
      return pod;
    },
    async shutdown(): Promise<void> {
      await Promise.all([...pods].map((p) => p.destroy()));
    },
  };
};

/** For tests: host pids of every process of a pod (empty once destroyed). */
export function hostPidsOfPod(handle: PodHandle): number[] {
  return handle instanceof Pod ? pidsInNs(handle.ns) : [];
}


/**
 * The simulated pods' processes and disks (issues 5 and 17). Each pod is a directory under the
 * state dir (`<podId>/workspace`, `<podId>/tmp`) and one long-lived init process (pod-init.py) in
 * its own mount, PID, network, UTS and cgroup namespaces (`unshare --mount --pid --net --uts
 * --cgroup --fork --mount-proc --propagation private`) and its own memory/CPU cgroups
 * (pod-cgroups.ts). The init sets the pod up: its hostname (the pod id) with an /etc/hosts that
 * resolves it to 127.0.0.1 (as a Kubernetes pod's resolves to its own address — torchrun's
 * rendezvous needs that), bind mounts that put the pod's directories at /workspace and /tmp and the
 * image's patched files (image-patches.ts) in place, a minimal /dev with the rental's /dev/nvidia*
 * entries, the loopback up, and relays from the pod's own 127.0.0.1:<port> to the simulator's Unix
 * sockets (its API and package index) — the only things a pod can reach (no inbound, no other pod,
 * no private range). Every process of the pod joins its cgroups and enters its namespaces
 * (`nsenter -t <init> -m -p -n -u -C`); destroying the pod kills the init, the kernel then kills every
 * process of the pod (detached `setsid -f` jobs included) and drops its network namespace, and the
 * cgroups are removed.
 *
 * Needs root (or CAP_SYS_ADMIN) and util-linux's unshare/nsenter; create() fails with a message
 * that says so otherwise. Without a usable cgroup memory controller pods run without limits (said
 * once on stderr).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { CreatePodRuntime, ExecResult, PodHandle, PodProcess, PodRuntimeSpec, SpawnOptions } from './contracts';
import { imagePatchBinds } from './image-patches';
import { cpuTicks, killGroup, pidNs, pidsInNs, procState, waitExit } from './host-procs';
import { createCgroupRuntime, type CgroupRuntime, type PodCgroup } from './pod-cgroups';
import { realPython } from './pod-python';

export { realPython } from './pod-python';

const HERE = __dirname;
/** Inside a pod, /tmp is the pod's own: a checkout under the host's /tmp (a CI clone, say) would be
 *  hidden there. So the simulator's own files (the init, the PTY helper, the image's shims) are
 *  bind-mounted at a fixed path first, and pods use them from there. */
const IMAGE_MOUNT = '/run/kgpu-sim';
const POD_INIT = join(IMAGE_MOUNT, 'pod-init.py');
const PTY_HELPER = join(IMAGE_MOUNT, 'pty-helper.py');
const IMAGE_BIN = join(IMAGE_MOUNT, 'image', 'bin');
/** Where a pod sees the folder of the simulator's Unix sockets (its relays' upstreams). */
const NET_MOUNT = '/run/kgpu-sim-net';
/** An empty folder the init builds the pod's /dev in before moving it onto /dev. */
const DEV_STAGING = '/run/kgpu-sim-dev';
/** Joins the cgroups named before `--` (their cgroup.procs files), then runs the rest. */
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"';
/** How often the kubelet stand-in looks for OOM kills. */
const OOM_CHECK_MS = 100;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function podPath(): string {
  const py = realPython();
  // The image's shims first, then the real Python's directory (so `python`/`python3` are the
  // interpreter itself, not a shim), then the system.
  return [IMAGE_BIN, py.dir, dirname(py.exe), SYSTEM_PATH].filter((d, i, a) => a.indexOf(d) === i).join(':');
}

function nsRefusedMessage(detail: string): string {
  return (
    `kgpu simulator: cannot create a pod's namespaces (${detail.trim() || 'unshare failed'}). ` +
    'Pods need root (or CAP_SYS_ADMIN) and util-linux unshare/nsenter: run the simulator as root, ' +
    'e.g. in the dev container, or inside `unshare --user --map-root-user`.'
  );
}

/** argv that joins the pod's cgroups first (nothing to join: argv as is). */
function inCgroups(cg: PodCgroup | undefined, argv: string[]): string[] {
  return cg ? ['/bin/sh', '-c', JOIN_CGROUPS, 'kgpu-cgroup', ...cg.procsFiles, '--', ...argv] : argv;
}

class Pod implements PodHandle {
  readonly workspaceDir: string;
  private readonly children = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;
  private oomReported = false;

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
    private readonly cgroup: PodCgroup | undefined,
    private readonly onOomKilled: (() => void) | undefined,
  ) {
    this.workspaceDir = join(root, 'workspace');
  }

  /** The kubelet's view: an OOM kill in the pod's memory cgroup is reported once. */
  checkOom(): void {
    if (this.oomReported || this.destroying || !this.cgroup || !this.onOomKilled) return;
    if (this.cgroup.oomKills() > 0) {
      this.oomReported = true;
      this.onOomKilled();
    }
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  private nsenter(argv: string[], env: Record<string, string>, stdio: ('pipe' | 'ignore')[]): ChildProcess {
    if (this.destroying) throw new Error(`pod ${this.podId} has ended`);
    const [cmd, ...args] = inCgroups(this.cgroup, [
      'nsenter',
      '-t',
      String(this.initPid),
      '-m',
      '-p',
      '-n',
      '-u',
      '-C',
      '--wd=/workspace',
      '--',
      ...argv,
    ]);
    const child = spawn(cmd, args, {
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
    const child = this.nsenter([realPython().exe, PTY_HELPER, String(cols), String(rows), ...shellArgv], env, [
      'pipe',
      'pipe',
      'pipe',
      'pipe',
    ]);
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
        // What the command left running on its own (`setsid -f job`, `job >log 2>&1 &`) keeps
        // running, as Kubernetes' exec leaves it; only a timeout kills the whole group. (Killing
        // the group here also caught a `setsid -f` child before its setsid(): 1 job in ~40 lost.)
        let stderr = Buffer.concat(err).toString('utf8');
        if (spawnError) stderr += `kgpu: could not start the command: ${spawnError.message}\n`;
        if (timedOut) stderr += `kgpu: command killed after the ${Math.round(o.timeoutMs / 1000)} s timeout\n`;
        const sigNo: Record<string, number> = {
          SIGHUP: 1,
          SIGINT: 2,
          SIGQUIT: 3,
          SIGABRT: 6,
          SIGKILL: 9,
          SIGSEGV: 11,
          SIGPIPE: 13,
          SIGTERM: 15,
        };
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
    // The contract's "a process > 10 % CPU" means CPU the process would use on the rental's own
    // cores. The simulator's host is shared (a CI runner at a load average of 20 gives a spinning
    // process ~5 % of a core), so a process also counts when it wanted a CPU the whole window:
    // runnable (state R: on a CPU, waiting for one, or held back by the pod's CPU quota) at nearly
    // every look. A sleeping process (a `tail -f`, a shell waiting on a job) is R only in the
    // instants it wakes.
    const samples = 10;
    const runnable = new Map<number, number>();
    for (let i = 0; i < samples; i++) {
      await new Promise((r) => setTimeout(r, 20));
      for (const p of pidsInNs(this.ns)) if (procState(p) === 'R') runnable.set(p, (runnable.get(p) ?? 0) + 1);
    }
    if ([...runnable.values()].some((n) => n >= samples * 0.8)) return true;
    // > 10 % of one CPU over the window (USER_HZ = 100 on Linux): more than windowMs/100 ticks.
    const windowMs = samples * 20;
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
      await this.cgroup
        ?.remove()
        .catch((e: unknown) => console.error(`kgpu-sim: removing the cgroup of ${this.podId}: ${(e as Error).message}`));
      rmSync(this.root, { recursive: true, force: true });
      this.onGone(this);
    })();
    return this.destroying;
  }
}

let cgroupWarned = false;

export const createPodRuntime: CreatePodRuntime = ({ stateDir }) => {
  const pods = new Set<Pod>();
  mkdirSync(stateDir, { recursive: true });
  const made = createCgroupRuntime();
  const cgroups: CgroupRuntime | undefined = 'error' in made ? undefined : made;
  if ('error' in made && !cgroupWarned) {
    cgroupWarned = true;
    console.error(`kgpu-sim: pods run without memory/CPU limits: ${made.error}`);
  }
  // The kubelet stand-in: OOM kills end their pod (evicted_by_kubelet:OOMKilled).
  const oomTimer = cgroups ? setInterval(() => pods.forEach((p) => p.checkOom()), OOM_CHECK_MS) : undefined;
  oomTimer?.unref();
  return {
    async create(spec: PodRuntimeSpec): Promise<PodHandle> {
      if (!/^[A-Za-z0-9._-]+$/.test(spec.podId)) throw new Error(`kgpu simulator: bad pod id ${JSON.stringify(spec.podId)}`);
      const root = join(stateDir, spec.podId);
      const ws = join(root, 'workspace');
      const tmp = join(root, 'tmp');
      mkdirSync(ws, { recursive: true });
      mkdirSync(tmp, { recursive: true, mode: 0o1777 });
      // Its hostname resolves to its own loopback (the only address it has), as in Kubernetes.
      const hostname = spec.podId.toLowerCase().slice(0, 63);
      writeFileSync(join(root, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t${hostname}\n`);
      writeFileSync(join(root, 'hostname'), `${hostname}\n`);
      // The mount points (empty on the host).
      if (!existsSync('/workspace')) mkdirSync('/workspace');
      for (const d of [IMAGE_MOUNT, NET_MOUNT, DEV_STAGING]) mkdirSync(d, { recursive: true });
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
      let cgroup: PodCgroup | undefined;
      if (cgroups && spec.memoryBytes !== undefined) cgroup = cgroups.create(spec.podId, { memoryBytes: spec.memoryBytes, cpu: spec.cpu });
      const fail = (detail: string): never => {
        rmSync(root, { recursive: true, force: true });
        void cgroup?.remove().catch(() => undefined);
        throw new Error(nsRefusedMessage(detail));
      };
      // The init carries the pod's environment, so /proc/1/environ inside the pod shows it. The
      // simulator's own files are mounted first so the init runs from there (see IMAGE_MOUNT).
      const initArgv = inCgroups(cgroup, [
        'unshare',
        '--mount',
        '--pid',
        '--net',
        '--uts',
        '--cgroup',
        '--fork',
        '--mount-proc',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        '-c',
        `mount --bind "$0" ${IMAGE_MOUNT} && exec "$@"`,
        HERE,
        py.exe,
        POD_INIT,
        spec.podId,
        spec.gpuModel,
        String(spec.gpuCount),
      ]);
      const init = spawn(initArgv[0], initArgv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const setup = {
        hostname,
        // In this order: the host's /tmp (where these folders usually are) is hidden by the last.
        binds: [
          ...imagePatchBinds(py),
          ...(spec.reach ? [{ source: spec.reach.dir, target: NET_MOUNT }] : []),
          { source: join(root, 'hosts'), target: '/etc/hosts' },
          { source: join(root, 'hostname'), target: '/etc/hostname' },
          { source: ws, target: '/workspace' },
          { source: tmp, target: '/tmp', mode: '1777' },
        ],
        views: cgroup?.views ?? [],
        dev: DEV_STAGING,
        gpus: spec.gpuCount,
        relays: (spec.reach?.relays ?? []).map((r) => ({ host: r.host, port: r.port, socket: join(NET_MOUNT, r.socket) })),
      };
      init.stdin!.on('error', () => undefined);
      init.stdin!.write(`${JSON.stringify(setup)}\n`);
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
        await waitExit(init);
        fail(errText);
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
        await waitExit(init);
        fail(`could not find the pod's init process${errText ? `: ${errText}` : ''}`);
      }
      const pod = new Pod(spec.podId, root, init, initPid, ns!, env, (p) => pods.delete(p), cgroup, spec.onOomKilled);
      pods.add(pod);
      return pod;
    },
    async shutdown(): Promise<void> {
      await Promise.all([...pods].map((p) => p.destroy()));
      if (oomTimer) clearInterval(oomTimer);
      await cgroups?.dispose().catch((e: unknown) => console.error(`kgpu-sim: removing the pods' cgroups: ${(e as Error).message}`));
    },
  };
};

/** For tests: host pids of every process of a pod (empty once destroyed). */
export function hostPidsOfPod(handle: PodHandle): number[] {
  return handle instanceof Pod ? pidsInNs(handle.ns) : [];
}

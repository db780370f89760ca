/**
 * A running simulated pod (pods.ts starts it): its processes — shells and PTYs (spawn), the
 * contract's exec with its timeout and output bound — all entering the pod's namespaces and
 * cgroups through its init, its disk usage, whether it is busy (the idle rule's CPU test), and its
 * destruction (the init killed, every process of the pod with it, the cgroups and disk removed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readlinkSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { ExecResult, PodHandle, PodProcess, SpawnOptions } from './contracts';
import { ExecOutput } from './exec-output';
import { cpuTicks, killGroup, pidsInNs, procState, waitExit } from './host-procs';
import type { PodCgroup } from './pod-cgroups';
import { realPython } from './pod-python';

/** Inside a pod, /tmp is the pod's own: a checkout under the host's /tmp (a CI clone, say) would be
 *  hidden there. So the simulator's own files (the init, the PTY helper, the image's shims) are
 *  bind-mounted at a fixed path first, and pods use them from there. */
export const IMAGE_MOUNT = '/run/kgpu-sim';
const PTY_HELPER = join(IMAGE_MOUNT, 'pty-helper.py');
/** Joins the cgroups named before `--` (their cgroup.procs files), then runs the rest. */
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"';

/** argv that joins the pod's cgroups first (nothing to join: argv as is). */
export function inCgroups(cg: PodCgroup | undefined, argv: string[]): string[] {
  return cg ? ['/bin/sh', '-c', JOIN_CGROUPS, 'kgpu-cgroup', ...cg.procsFiles, '--', ...argv] : argv;
}

export class Pod implements PodHandle {
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

  /**
   * Keep the pod's PID namespace (and so its inode number, `ns`) from being freed until the returned
   * function is called. The kernel reuses a freed namespace's inode number at once (the next pod,
   * maybe another simulator's, gets it), so "no process left in `ns`" is only sound while it is held.
   * Undefined when the pod's PID 1 is already gone.
   */
  holdNamespace(): (() => void) | undefined {
    let fd: number;
    try {
      fd = openSync(`/proc/${this.initPid}/ns/pid`, 'r');
    } catch {
      return undefined;
    }
    if (readlinkSync(`/proc/self/fd/${fd}`) !== this.ns) {
      closeSync(fd);
      return undefined; // initPid was reused: not our namespace
    }
    return () => closeSync(fd);
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
      const output = new ExecOutput(child, o.maxOutputBytes);
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
        let stderr = output.stderr;
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
          stdout: output.stdout,
          stderr,
          duration_ms: Date.now() - started,
          truncated: output.truncated,
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
      // Held while we wait for the namespace to empty: a freed one's inode may at once be another pod's.
      const release = this.holdNamespace();
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
      release?.();
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

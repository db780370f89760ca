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
 * once on stderr). This file starts pods; a running pod (spawn, exec, disk usage, busy, destroy) is
 * running-pod.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { CreatePodRuntime, PodHandle, PodRuntimeSpec } from './contracts';
import { imagePatchBinds } from './image-patches';
import { killGroup, pidNs, pidsInNs, waitExit } from './host-procs';
import { createCgroupRuntime, type CgroupRuntime, type PodCgroup } from './pod-cgroups';
import { realPython } from './pod-python';
import { IMAGE_MOUNT, Pod, inCgroups } from './running-pod';

export { realPython } from './pod-python';

const HERE = __dirname;
const POD_INIT = join(IMAGE_MOUNT, 'pod-init.py');
const IMAGE_BIN = join(IMAGE_MOUNT, 'image', 'bin');
/** Where a pod sees the folder of the simulator's Unix sockets (its relays' upstreams). */
const NET_MOUNT = '/run/kgpu-sim-net';
/** An empty folder the init builds the pod's /dev in before moving it onto /dev. */
const DEV_STAGING = '/run/kgpu-sim-dev';
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

/**
 * For tests: keep a pod's PID namespace from being freed (and its inode number given to another
 * pod) while `hostPidsOfPod` is asked about it after the pod ends; call the result when done.
 */
export function holdPodNamespace(handle: PodHandle): () => void {
  const release = handle instanceof Pod ? handle.holdNamespace() : undefined;
  if (handle instanceof Pod && !release) throw new Error(`pod ${handle.podId}: its PID 1 is gone`);
  return release ?? (() => undefined);
}

/**
 * For tests: host pids of every process of a pod (empty once destroyed). After the pod ends this is
 * only sound while its namespace is held (holdPodNamespace): a freed namespace's number is reused.
 */
export function hostPidsOfPod(handle: PodHandle): number[] {
  return handle instanceof Pod ? pidsInNs(handle.ns) : [];
}

/**
 * A memory (and CPU) cgroup per simulated pod, as kgpu's Kubernetes pods have: `memory` is a hard
 * limit (going over it OOM-kills, and the simulator then ends the pod with
 * `evicted_by_kubelet:OOMKilled`), `cpu` a CFS quota.
 *
 * cgroup v1 (a `memory` hierarchy, e.g. /sys/fs/cgroup/memory, and a `cpu` one) or v2 (a unified
 * hierarchy whose cgroup.controllers lists `memory`), whichever the machine mounts; v1 wins on a
 * hybrid machine whose v2 mount has no controllers. The cgroups nest under the simulator's own
 * cgroup (we never move processes out of the cgroup we were started in):
 *
 *   <own cgroup>/kgpu-sim/<pid>.<start time>.<n>/<pod id>     one folder per runtime, one per pod
 *
 * A runtime removes its folder when it shuts down; at start it removes the folders of runtimes
 * whose process is gone (a crashed simulator), killing anything left in them.
 * Which hierarchies there are: cgroup-hierarchies.ts.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findHierarchies, read, type Hierarchy } from './cgroup-hierarchies';

export interface CgroupLimits {
  memoryBytes: number;
  /** CPU cores (fractions allowed); undefined = no quota. */
  cpu?: number;
}

/** One pod's cgroup(s). */
export interface PodCgroup {
  /** `cgroup.procs` files a process writes its pid into to join the pod (one per v1 hierarchy). */
  readonly procsFiles: string[];
  /** Bind mounts that show the pod its own cgroup, as a container sees it: host dir → pod path. */
  readonly views: { source: string; target: string }[];
  /** The kernel's count of OOM kills in the pod's memory cgroup. */
  oomKills(): number;
  /** Remove the cgroup(s); every process in them must be gone (retries briefly while the kernel lets go). */
  remove(): Promise<void>;
}

export interface CgroupRuntime {
  readonly version: 1 | 2;
  create(podId: string, limits: CgroupLimits): PodCgroup;
  /** Remove this runtime's folder (after every pod's cgroup is removed). */
  dispose(): Promise<void>;
}

const CFS_PERIOD_US = 100_000;
let runtimeCounter = 0;

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

/** Our process's start time (clock ticks since boot): with the pid it names a process uniquely. */
function startTime(pid: number | string): string | undefined {
  try {
    const stat = read(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Kill every process in a cgroup folder tree and remove it (a crashed simulator's leftovers);
 *  what the kernel does not let go of yet is tried again for a few seconds, in the background. */
function removeTree(dir: string): void {
  if (removeTreeNow(dir)) return;
  let tries = 0;
  const timer = setInterval(() => {
    if (removeTreeNow(dir) || ++tries >= 250) clearInterval(timer);
  }, 20);
  timer.unref();
}

/** True when `dir` is gone. */
function removeTreeNow(dir: string): boolean {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return !existsSync(dir);
  }
  for (const e of entries) removeTreeNow(join(dir, e));
  try {
    for (const pid of read(join(dir, 'cgroup.procs')).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* gone */
  }
  try {
    rmdirSync(dir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  return true;
}

async function rmdirPatiently(dir: string): Promise<void> {
  // The kernel lets go of a cgroup a moment after its last process is reaped.
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 200) throw e;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** v2: let `dir`'s children have these controllers. */
function enableSubtree(dir: string, controllers: string[]): void {
  const have = read(join(dir, 'cgroup.subtree_control')).trim().split(/\s+/);
  const missing = controllers.filter((c) => !have.includes(c));
  if (missing.length) write(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

/**
 * The cgroup side of a pod runtime, or an error saying why there is none (the caller runs pods
 * without limits then, and says so once).
 */
export function createCgroupRuntime(): CgroupRuntime | { error: string } {
  const found = findHierarchies();
  if ('error' in found) return found;
  const { version, hierarchies } = found;
  const me = `${process.pid}.${startTime(process.pid) ?? '0'}`;
  const runtimeName = `${me}.${++runtimeCounter}`;
  // Per hierarchy: the folder of all runtimes (kgpu-sim) and this runtime's.
  const bases: { h: Hierarchy; root: string; dir: string }[] = [];
  try {
    for (const h of hierarchies) {
      let parent = join(h.mount, h.own);
      if (version === 2) {
        // v2's "no internal processes" rule: our own cgroup can have children with controllers only
        // if it holds no process (or is the root). Otherwise use its parent, whose children (ours
        // included) already have them.
        try {
          enableSubtree(parent, h.controllers);
        } catch {
          parent = join(parent, '..');
        }
      }
      const root = join(parent, 'kgpu-sim');
      const dir = join(root, runtimeName);
      // Another simulator may remove the shared folder the moment it is empty: create both again then.
      for (let i = 0; ; i++) {
        try {
          mkdirSync(root, { recursive: true });
          if (version === 2) enableSubtree(root, h.controllers);
          mkdirSync(dir);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || i >= 5) throw e;
        }
      }
      if (version === 2) enableSubtree(dir, h.controllers);
      bases.push({ h, root, dir });
      // A crashed simulator's runtimes: their process is gone (or is another process now).
      for (const name of readdirSync(root)) {
        const m = /^(\d+)\.(\d+)\.\d+$/.exec(name);
        if (!m || startTime(m[1]) === m[2]) continue;
        removeTree(join(root, name));
      }
    }
  } catch (e) {
    for (const b of bases) removeTree(b.dir);
    return { error: `cannot create cgroups under ${hierarchies.map((h) => join(h.mount, h.own)).join(', ')}: ${(e as Error).message}` };
  }
  const memBase = bases.find((b) => b.h.controllers.includes('memory'))!;

  return {
    version,
    create(podId, limits) {
      const dirs = bases.map((b) => ({ b, dir: join(b.dir, podId) }));
      const made: string[] = [];
      try {
        for (const { b, dir } of dirs) {
          mkdirSync(dir);
          made.push(dir);
          if (b.h.controllers.includes('memory')) {
            const bytes = String(Math.max(4096, Math.floor(limits.memoryBytes)));
            if (version === 1) {
              write(join(dir, 'memory.limit_in_bytes'), bytes);
              // No swapping past the limit: memory+swap gets the same limit where swap is accounted.
              if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) write(join(dir, 'memory.memsw.limit_in_bytes'), bytes);
              try {
                write(join(dir, 'memory.swappiness'), '0');
              } catch {
                /* not settable under some parents: the memsw limit still holds */
              }
            } else {
              write(join(dir, 'memory.max'), bytes);
              if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
              // As Kubernetes does on cgroup v2: an OOM kill takes the whole container.
              if (existsSync(join(dir, 'memory.oom.group'))) write(join(dir, 'memory.oom.group'), '1');
            }
          }
          if (b.h.controllers.includes('cpu') && limits.cpu !== undefined && limits.cpu > 0) {
            const quota = String(Math.max(1000, Math.round(limits.cpu * CFS_PERIOD_US)));
            // Where the machine allows it: under a parent with a smaller quota (v1) the kernel
            // refuses a bigger one, and the pod runs with the parent's.
            try {
              if (version === 1) {
                if (existsSync(join(dir, 'cpu.cfs_quota_us'))) {
                  write(join(dir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
                  write(join(dir, 'cpu.cfs_quota_us'), quota);
                }
              } else if (existsSync(join(dir, 'cpu.max'))) {
                write(join(dir, 'cpu.max'), `${quota} ${CFS_PERIOD_US}`);
              }
            } catch {
              /* see above */
            }
          }
        }
      } catch (e) {
        for (const d of made.reverse()) removeTree(d);
        throw new Error(`kgpu simulator: cannot set up the cgroup of ${podId}: ${(e as Error).message}`);
      }
      const memDir = join(memBase.dir, podId);
      const eventsFile = version === 1 ? join(memDir, 'memory.oom_control') : join(memDir, 'memory.events');
      let removing: Promise<void> | undefined;
      return {
        procsFiles: dirs.map(({ dir }) => join(dir, 'cgroup.procs')),
        views: dirs.map(({ b, dir }) => ({ source: dir, target: b.h.podTarget })),
        oomKills() {
          try {
            return Number(/^oom_kill (\d+)$/m.exec(read(eventsFile))?.[1] ?? 0);
          } catch {
            return 0;
          }
        },
        remove() {
          removing ??= (async () => {
            for (const { dir } of [...dirs].reverse()) await rmdirPatiently(dir);
          })();
          return removing;
        },
      };
    },
    async dispose() {
      for (const b of bases) {
        for (const name of readdirSync(b.dir)) removeTree(join(b.dir, name));
        await rmdirPatiently(b.dir).catch(() => removeTree(b.dir));
        // The shared kgpu-sim folder goes when it is empty (another simulator may still use it).
        try {
          rmdirSync(b.root);
        } catch {
          /* in use */
        }
      }
    },
  };
}

/** For tests: the host folders of a host process's memory and CPU cgroups. */
export function hostCgroupDirs(pid: number): string[] {
  const found = findHierarchies();
  if ('error' in found) return [];
  let lines: string[];
  try {
    lines = read(`/proc/${pid}/cgroup`).split('\n');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const h of found.hierarchies) {
    for (const line of lines) {
      const m = /^\d+:([^:]*):(.*)$/.exec(line);
      if (!m) continue;
      const mine = found.version === 2 ? m[1] === '' : m[1].split(',').some((c) => h.controllers.includes(c as 'memory' | 'cpu'));
      if (mine) out.push(join(h.mount, m[2]));
    }
  }
  return out;
}

/**
 * Which cgroup hierarchies the simulator can give its pods (pod-cgroups.ts): from
 * /proc/self/mountinfo and /proc/self/cgroup, the v1 `memory` and `cpu` hierarchies or a v2 one
 * whose cgroup.controllers lists `memory` (v1 wins on a hybrid machine whose v2 mount has no
 * controllers), each with where a pod sees it and our own cgroup in it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Hierarchy {
  /** Controller(s) this hierarchy carries that we use. */
  controllers: ('memory' | 'cpu')[];
  /** Mount point on the host. */
  mount: string;
  /** Where the pod sees it (v1: /sys/fs/cgroup/<name>; v2: /sys/fs/cgroup). */
  podTarget: string;
  /** Our own cgroup in it (relative to the mount). */
  own: string;
}

export function read(path: string): string {
  return readFileSync(path, 'utf8');
}

/** The cgroup hierarchies we can use, from /proc/self/mountinfo and /proc/self/cgroup. */
export function findHierarchies(): { version: 1 | 2; hierarchies: Hierarchy[] } | { error: string } {
  let mountinfo: string;
  let selfCg: string;
  try {
    mountinfo = read('/proc/self/mountinfo');
    selfCg = read('/proc/self/cgroup');
  } catch (e) {
    return { error: `cannot read /proc/self: ${(e as Error).message}` };
  }
  const own = new Map<string, string>(); // controller list ("memory", "cpu,cpuacct", "" for v2) → path
  for (const line of selfCg.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1], m[2]);
  }
  const v1: Hierarchy[] = [];
  let v2: Hierarchy | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mountPoint = pre.split(' ')[4];
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'cgroup') {
      const opts = superOpts.split(',');
      const ctrls = (['memory', 'cpu'] as const).filter((c) => opts.includes(c));
      if (ctrls.length === 0) continue;
      const key = [...own.keys()].find((k) => k.split(',').some((c) => ctrls.includes(c as 'memory' | 'cpu')));
      v1.push({
        controllers: [...ctrls],
        mount: mountPoint,
        podTarget: mountPoint.replace(/^.*\/sys\/fs\/cgroup/, '/sys/fs/cgroup'),
        own: (key && own.get(key)) || '/',
      });
    } else if (fstype === 'cgroup2') {
      let controllers: string[] = [];
      try {
        controllers = read(join(mountPoint, 'cgroup.controllers')).trim().split(/\s+/);
      } catch {
        /* unreadable: unusable */
      }
      if (!controllers.includes('memory')) continue;
      v2 = {
        controllers: controllers.includes('cpu') ? ['memory', 'cpu'] : ['memory'],
        mount: mountPoint,
        podTarget: '/sys/fs/cgroup',
        own: own.get('') ?? '/',
      };
    }
  }
  if (v1.some((h) => h.controllers.includes('memory'))) return { version: 1, hierarchies: v1 };
  if (v2) return { version: 2, hierarchies: [v2] };
  return {
    error: 'no cgroup memory controller is mounted (neither a v1 `memory` hierarchy nor a v2 one with `memory` in cgroup.controllers)',
  };
}

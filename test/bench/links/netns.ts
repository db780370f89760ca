/**
 * A network namespace joined to this one by a veth pair, the far end of an emulated link: a server
 * started in it (through nsenter, network namespace only) is reached from here across the veth,
 * whose two ends carry a qdisc each — tbf for the rate (netem for delay and rate where the kernel
 * has it). Unique names per process; removed by close(), at process exit, and (when a previous run
 * was killed outright) by sweepStaleNamespaces() on the next start.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { bytesPerSecond, type LinkProfile } from './profiles';

const PREFIX = 'kgpu-link-';

export interface Netns {
  name: string;
  /** This side's address (on the veth), and the namespace's. */
  hostIp: string;
  nsIp: string;
  /** True when netem carries the delay (then no user-space delay is needed). */
  netem: boolean;
  /** argv that runs `cmd args` inside the namespace (network only; mounts, cgroups stay ours). */
  wrap(cmd: string, args: string[]): { cmd: string; args: string[] };
  close(): void;
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
}

const onPath = (tool: string): boolean =>
  (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => fs.existsSync(`${d}/${tool}`));

/** Why namespaces cannot be used here (null: they can — as far as can be told without trying). */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (network namespaces and tc need root)';
  for (const tool of ['ip', 'tc', 'nsenter']) if (!onPath(tool)) return `no \`${tool}\` on PATH`;
  return null;
}

/** Remove namespaces (and the processes in them) left by runs that were killed outright. */
export function sweepStaleNamespaces(): void {
  const list = run('ip', ['netns', 'list']);
  if (!list.ok) return;
  for (const line of list.out.split('\n')) {
    const name = line.split(' ')[0];
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) destroy(name);
  }
}

function destroy(name: string): void {
  const pids = run('ip', ['netns', 'pids', name]);
  for (const p of pids.ok ? pids.out.split('\n') : []) {
    const pid = Number(p);
    if (pid > 0)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
  }
  run('ip', ['netns', 'del', name]); // takes the veth pair with it
}

/** A free 10.213.x.y/30 (checked against this namespace's addresses). */
function pickSubnet(): { hostIp: string; nsIp: string } {
  const used = run('ip', ['-o', '-4', 'addr']).out;
  for (let i = 0; i < 64; i++) {
    const [a, b] = randomBytes(2);
    const hostIp = `10.213.${a}.${(b & 0xfc) + 1}`;
    const nsIp = `10.213.${a}.${(b & 0xfc) + 2}`;
    if (!used.includes(`${hostIp}/`) && !used.includes(`${nsIp}/`)) return { hostIp, nsIp };
  }
  throw new Error('no free 10.213.x.y/30 subnet for the link');
}

/** tbf's bucket: 10 ms of the rate, at least 128 KiB (a veth passes 64 KiB GSO packets). */
function tbfArgs(p: LinkProfile): string[] {
  const burst = Math.max(128 * 1024, Math.round(bytesPerSecond(p) / 100));
  return ['tbf', 'rate', `${p.rateMbit}mbit`, 'burst', String(burst), 'latency', '50ms'];
}

/** Create the namespace and the shaped veth pair for `p` (rate > 0 or rtt > 0). Throws with the
 *  failing command when the kernel refuses (the caller falls back to the user-space proxy). */
export function createNetns(p: LinkProfile, options: { tryNetem?: boolean } = {}): Netns {
  const id = randomBytes(3).toString('hex');
  const name = `${PREFIX}${process.pid}-${id}`;
  const hostIf = `kl${id}h`;
  const nsIf = `kl${id}n`;
  const { hostIp, nsIp } = pickSubnet();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    process.removeListener('exit', close);
    destroy(name);
    run('ip', ['link', 'del', hostIf]); // when the namespace was never made
  };
  process.on('exit', close);
  try {
    must('ip', ['netns', 'add', name]);
    must('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    must('ip', ['link', 'set', nsIf, 'netns', name]);
    must('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    must('ip', ['link', 'set', hostIf, 'up']);
    must('ip', ['-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
    must('ip', ['-n', name, 'link', 'set', nsIf, 'up']);
    must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    // Each end's egress is one direction: here → pod (upload) and pod → here (download).
    let netem = false;
    if (options.tryNetem !== false && p.rttMs > 0) {
      const oneWay = `${p.rttMs / 2}ms`;
      const rate = p.rateMbit > 0 ? ['rate', `${p.rateMbit}mbit`] : [];
      const a = run('tc', ['qdisc', 'add', 'dev', hostIf, 'root', 'netem', 'delay', oneWay, ...rate, 'limit', '100000']);
      if (a.ok) {
        must('tc', ['-n', name, 'qdisc', 'add', 'dev', nsIf, 'root', 'netem', 'delay', oneWay, ...rate, 'limit', '100000']);
        netem = true;
      }
    }
    if (!netem && p.rateMbit > 0) {
      must('tc', ['qdisc', 'add', 'dev', hostIf, 'root', ...tbfArgs(p)]);
      must('tc', ['-n', name, 'qdisc', 'add', 'dev', nsIf, 'root', ...tbfArgs(p)]);
    }
    return {
      name,
      hostIp,
      nsIp,
      netem,
      wrap: (cmd, args) => ({ cmd: 'nsenter', args: [`--net=/var/run/netns/${name}`, '--', cmd, ...args] }),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * An emulated link to a server (the simulator's bastion), made the best way this machine allows:
 *   netem          netem on a veth pair into a namespace: delay and rate in the kernel;
 *   tbf + delay    tbf on the veth for the rate (both directions), a delay line process inside the
 *                  namespace for the round-trip time (this kernel has tbf/htb but no netem);
 *   proxy          no namespaces (not root, no ip/tc/nsenter, or asked for): the delay line process
 *                  on loopback does delay and rate;
 *   loopback       the loopback profile: nothing in between.
 * Servers behind the link are started through wrap() and listen on 127.0.0.1 (in the namespace:
 * its own loopback, which the simulator's pods rely on); clients connect to front(target), a
 * delay line (or, for netem, a plain forwarder) on the namespace's veth address. Both our ssh2
 * path and the OpenSSH reference then cross the same link.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { bytesPerSecond, type LinkProfile } from './profiles';
import { createNetns, netnsUnavailable, sweepStaleNamespaces, type Netns } from './netns';
import type { DelayLineOptions } from './delay-line';

export type LinkMethod = 'loopback' | 'netem' | 'tbf+delay-line' | 'proxy';

export interface Link {
  profile: LinkProfile;
  method: LinkMethod;
  /** The method in words, for the table. */
  describe: string;
  /** Why the kernel path was not used (null when it was, or for loopback). */
  fallbackReason: string | null;
  /** argv that starts a server behind the link (it listens on 127.0.0.1). */
  wrap(cmd: string, args: string[]): { cmd: string; args: string[] };
  /** The address clients use to reach `target` (a server behind the link on 127.0.0.1) across
   *  it. `plain`: without the delay line's delay (set-up traffic such as REST calls; still across
   *  the veth's rate limit), and not counted as a handshake. */
  front(target: { host: string; port: number }, options?: { plain?: boolean }): Promise<{ host: string; port: number }>;
  /** Connections opened through the link's delay line so far (null: none counts them). */
  connections(): Promise<number | null>;
  close(): Promise<void>;
}

export interface OpenLinkOptions {
  /** 'proxy': never use namespaces (the user-space fallback); 'auto' (default): the best available. */
  method?: 'auto' | 'proxy';
}

const identity = (cmd: string, args: string[]): { cmd: string; args: string[] } => ({ cmd, args });

class DelayLineProcess {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly waiters: ((l: string) => void)[] = [];
  private exit?: string;
  private stderr = '';

  constructor(argv: { cmd: string; args: string[] }) {
    // cwd: the repository, where `--import tsx` resolves.
    this.child = spawn(argv.cmd, argv.args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: path.join(__dirname, '..', '..', '..') });
    readline.createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
    this.child.stderr!.on('data', (b: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += b.toString('utf8');
    });
    this.child.stdin!.on('error', () => undefined);
    this.child.on('error', (e) => this.gone(`could not start: ${e.message}`));
    this.child.on('exit', (code, signal) => this.gone(`exited (${code ?? signal})`));
  }

  private gone(why: string): void {
    this.exit ??= `delay line ${why}${this.stderr.trim() ? `: ${this.stderr.trim()}` : ''}`;
    for (const w of this.waiters.splice(0)) w('');
  }

  nextLine(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.exit) return Promise.reject(new Error(this.exit));
    return new Promise((resolve, reject) => this.waiters.push((x) => (x === '' && this.exit ? reject(new Error(this.exit)) : resolve(x))));
  }

  async port(): Promise<number> {
    const l = await this.nextLine();
    const m = /^LISTENING (\d+)$/.exec(l);
    if (!m) throw new Error(`delay line: unexpected output ${JSON.stringify(l)}`);
    return Number(m[1]);
  }

  private counting: Promise<unknown> = Promise.resolve();
  count(): Promise<number> {
    const next = this.counting.then(async () => {
      this.child.stdin!.write('count\n');
      const m = /^COUNT (\d+)$/.exec(await this.nextLine());
      if (!m) throw new Error('delay line: no count');
      return Number(m[1]);
    });
    this.counting = next.catch(() => undefined);
    return next;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.stdin!.end(); // it exits when its stdin closes
      setTimeout(() => this.child.kill('SIGKILL'), 5000).unref();
    });
  }
}

export async function openLink(profile: LinkProfile, options: OpenLinkOptions = {}): Promise<Link> {
  const emulated = profile.rttMs > 0 || profile.rateMbit > 0;
  let netns: Netns | undefined;
  let fallbackReason: string | null = null;
  if (emulated) {
    fallbackReason = options.method === 'proxy' ? 'user-space proxy asked for' : netnsUnavailable();
    if (!fallbackReason) {
      sweepStaleNamespaces();
      try {
        netns = createNetns(profile);
      } catch (e) {
        fallbackReason = `namespace/tc set-up failed: ${(e as Error).message.split('\n')[0]}`;
      }
    }
  }
  const method: LinkMethod = !emulated ? 'loopback' : !netns ? 'proxy' : netns.netem ? 'netem' : 'tbf+delay-line';
  const lines: { p: DelayLineProcess; counted: boolean }[] = [];
  const wrap = netns ? netns.wrap : identity;
  const describe = {
    loopback: 'none (loopback)',
    netem: 'netem delay+rate on a veth into a netns',
    'tbf+delay-line': `tbf rate on a veth into a netns${profile.rttMs > 0 ? ' + user-space delay line (no netem in this kernel)' : ''}`,
    proxy: `user-space proxy: delay + rate (${fallbackReason})`,
  }[method];
  return {
    profile,
    method,
    describe,
    fallbackReason,
    wrap,
    async front(target, o = {}) {
      if (method === 'loopback' || (method === 'proxy' && o.plain)) return target;
      const opts: DelayLineOptions = {
        listenHost: netns ? netns.nsIp : '127.0.0.1',
        target,
        // netem delays in the kernel; in the namespace the line only bridges veth → loopback.
        oneWayMs: o.plain || method === 'netem' ? 0 : profile.rttMs / 2,
        rate: bytesPerSecond(profile),
        limitRate: method === 'proxy',
      };
      const p = new DelayLineProcess(
        wrap(process.execPath, ['--import', 'tsx', path.join(__dirname, 'delay-line-process.ts'), JSON.stringify(opts)]),
      );
      lines.push({ p, counted: !o.plain });
      return { host: opts.listenHost, port: await p.port() };
    },
    async connections() {
      const counted = lines.filter((l) => l.counted);
      if (counted.length === 0) return null;
      let n = 0;
      for (const l of counted) n += await l.p.count();
      return n;
    },
    async close() {
      await Promise.all(lines.map((l) => l.p.close()));
      netns?.close();
    },
  };
}

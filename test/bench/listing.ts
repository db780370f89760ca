/**
 * Scenario 3 — list a 1 000-entry folder with each entry's attributes.
 *   ours cold:  a fresh WorkspaceFs (the `kgpu:` file system's core): readDirectory + stat of every
 *               entry, connection and SFTP session included.
 *   ours warm:  the same on an open connection with the cache expired (cacheTtlMs 0): one READDIR
 *               sequence whose replies carry every entry's attributes.
 *   ours cached: readDirectory + 1 000 stats again within the cache's lifetime (no reference).
 *   reference:  `sftp -s /usr/lib/openssh/sftp-server -b - …` `ls -l <dir>`: cold = the whole
 *               process; warm = another `ls -l` in the same session, until a marker line after it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { WorkspaceFs } from '../../src/kgpu/fs/workspace-fs';
import { RemoteFs } from '../../src/kgpu/fs/remote-fs';
import { openSftpOverExec } from '../../src/kgpu/ssh/sftp-over-exec';
import { readdirPipelined } from '../../src/kgpu/ssh/sftp-readdir';
import type { BenchEnv } from './env';
import { exited, interleave, now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** An interactive `sftp -b -` session whose commands we time until a marker echoed after them. */
class SftpSession {
  private out = '';
  private waiters: { mark: string; command: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private marks = 0;
  private exit?: string;
  readonly child: ChildProcessWithoutNullStreams;

  constructor(env: BenchEnv) {
    this.child = spawn('sftp', [...env.sshOptions, '-P', String(env.sshPort), '-s', SFTP_SERVER, '-b', '-', `kgpu@${env.sshHost}`]);
    this.child.stdout.on('data', (b: Buffer) => {
      this.out += b.toString('utf8');
      for (const w of [...this.waiters]) {
        const i = this.out.indexOf(w.mark);
        if (i >= 0) {
          this.out = this.out.slice(i + w.mark.length);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
    let stderr = '';
    this.child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    // sftp gone (EPIPE on our next command): reported by 'close' below, never an unhandled error.
    this.child.stdin.on('error', () => undefined);
    this.child.on('error', (e) => this.fail(`sftp could not be started: ${e.message}`));
    this.child.on('close', (code, signal) => this.fail(`sftp exited (${code ?? signal})${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
  }

  private fail(why: string): void {
    this.exit ??= why;
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${why} before "${w.command}" finished`));
  }

  /** Send `command`, resolve when its output is complete (a marker echoed after it appeared). */
  run(command: string): Promise<void> {
    const mark = `KGPU-BENCH-MARK-${++this.marks}-END`;
    return new Promise((resolve, reject) => {
      if (this.exit) return reject(new Error(`${this.exit} before "${command}" was sent`));
      this.waiters.push({ mark, command, resolve, reject });
      this.child.stdin.write(`${command}\n!echo ${mark}\n`);
    });
  }

  async close(): Promise<void> {
    this.child.stdin.end('bye\n');
    await exited(this.child);
  }
}

export async function benchListing(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const n = cfg.quick ? 50 : 1000;
  const dir = `/workspace/list-${n}`;
  await env.sh(`mkdir -p ${dir} && cd ${dir} && seq -f 'file-%04g.txt' 1 ${n} | xargs touch && ls | wc -l`);
  const connector = async (): Promise<typeof env.connector> => env.connector;
  const check = (count: number, who: string): void => {
    if (count !== n) throw new Error(`bench listing (${who}): got ${count} entries, expected ${n}`);
  };

  // Cold.
  const cold = await interleave(
    cfg,
    async () => {
      const wfs = new WorkspaceFs({ podId: env.podId, connector });
      try {
        const t0 = now();
        const entries = await wfs.readDirectory(dir);
        const stats = await Promise.all(entries.map(([name]) => wfs.stat(`${dir}/${name}`)));
        const ms = now() - t0;
        check(stats.length, 'ours cold');
        return ms;
      } finally {
        wfs.dispose();
      }
    },
    async () => {
      const t0 = now();
      const r = await runTool('sftp', [...env.sshOptions, '-P', String(env.sshPort), '-s', SFTP_SERVER, '-b', '-', `kgpu@${env.sshHost}`], {
        stdin: `ls -l ${dir}\n`,
      });
      const ms = now() - t0;
      check(
        r.stdout
          .toString('utf8')
          .split('\n')
          .filter((l) => l.includes('file-')).length,
        'sftp cold',
      );
      return ms;
    },
  );

  // Warm: open connections on both sides first.
  const warmFs = new WorkspaceFs({ podId: env.podId, connector, cacheTtlMs: 0 });
  const cachedFs = new WorkspaceFs({ podId: env.podId, connector });
  const sftp = new SftpSession(env);
  try {
    check((await warmFs.readDirectory(dir)).length, 'ours warm');
    await sftp.run(`ls -l ${dir}`);
    const warm = await interleave(
      cfg,
      async () => {
        const t0 = now();
        const entries = await warmFs.readDirectory(dir);
        const ms = now() - t0;
        check(entries.length, 'ours warm');
        return ms;
      },
      async () => {
        const t0 = now();
        await sftp.run(`ls -l ${dir}`);
        return now() - t0;
      },
    );
    check((await cachedFs.readDirectory(dir)).length, 'ours cached');
    const cached = await interleave(
      cfg,
      async () => {
        const t0 = now();
        const entries = await cachedFs.readDirectory(dir);
        await Promise.all(entries.map(([name]) => cachedFs.stat(`${dir}/${name}`)));
        return now() - t0;
      },
      undefined,
    );
    const warmMed = summarize(warm.ours).median;
    // Round trips of one listing: counted by RemoteFs (the waits of its pipelined READDIRs), and
    // estimated for both sides from the warm medians where the link has a round-trip time.
    const counter = new RemoteFs(env.connector);
    let oursRoundTrips: number;
    try {
      check((await counter.readdir(dir)).length, 'ours counted');
      oursRoundTrips = counter.readdirRoundTrips;
    } finally {
      counter.dispose();
    }
    // Before/after on one SFTP session: ssh2's readdir(path) (a READDIR after each reply, the path
    // before issue 25) vs the pipelined waves (sftp-readdir.ts, what RemoteFs uses now).
    const conn = await env.connector.connect();
    let pipe: { ours: number[]; reference: number[] };
    try {
      const sftp = await openSftpOverExec(conn.client);
      pipe = await interleave(
        cfg,
        async () => {
          const t0 = now();
          const r = await readdirPipelined(sftp, dir);
          const ms = now() - t0;
          check(r.entries.filter((e) => e.filename !== '.' && e.filename !== '..').length, 'pipelined');
          return ms;
        },
        async () => {
          const t0 = now();
          const list = await new Promise<unknown[]>((resolve, reject) => sftp.readdir(dir, (err, l) => (err ? reject(err) : resolve(l))));
          const ms = now() - t0;
          check(list.length, 'ssh2 readdir');
          return ms;
        },
      );
    } finally {
      conn.close();
    }
    const rtt = cfg.profile?.rttMs ?? 0;
    const perRtt = (ms: number): number | null => (rtt > 0 ? Number((ms / rtt).toFixed(1)) : null);
    return [
      {
        key: 'listing_cold',
        label: `3. listing ${n} entries, cold (WorkspaceFs vs sftp -s ls -l)`,
        unit: 'ms',
        ours: cold.ours,
        reference: cold.reference,
        goal: '—',
        met: null,
        extra: { entries: n, ours_path: 'new WorkspaceFs: connect + SFTP + readDirectory + stat each' },
      },
      {
        key: 'listing_warm',
        label: `3. listing ${n} entries, warm (${oursRoundTrips} round trips)`,
        unit: 'ms',
        ours: warm.ours,
        reference: warm.reference,
        goal: '< 50 ms',
        met: warmMed < 50,
        extra: {
          entries: n,
          ours_path: 'open WorkspaceFs, cache expired: readDirectory (pipelined READDIRs with attributes)',
          ours_round_trips: oursRoundTrips,
          ours_ms_per_rtt: perRtt(warmMed),
          reference_ms_per_rtt: perRtt(summarize(warm.reference).median),
        },
      },
      {
        key: 'listing_readdir_pipelined',
        label: `3. listing ${n} entries: pipelined READDIRs vs ssh2 readdir (before), one SFTP session`,
        unit: 'ms',
        ours: pipe.ours,
        reference: pipe.reference,
        goal: 'a couple of round trips',
        met: oursRoundTrips <= 3,
        extra: {
          entries: n,
          ours_round_trips: oursRoundTrips,
          ours_ms_per_rtt: perRtt(summarize(pipe.ours).median),
          reference_ms_per_rtt: perRtt(summarize(pipe.reference).median),
        },
      },
      {
        key: 'listing_cached',
        label: `3. listing ${n} entries, cached (+${n} stats)`,
        unit: 'ms',
        ours: cached.ours,
        goal: '—',
        met: null,
        extra: { entries: n, ours_path: 'WorkspaceFs within its 2 s cache: readDirectory + stat each' },
      },
    ];
  } finally {
    warmFs.dispose();
    cachedFs.dispose();
    await sftp.close();
  }
}

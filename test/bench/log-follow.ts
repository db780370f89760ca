/**
 * Scenario 5 — follow a log that grows to 1 GiB at full speed (`seq | head -c N`: unique ordered
 * lines, so a lost, repeated or reordered chunk changes the hash).
 *   ours:      startAndFollow (job launch + followLog) in a child process (follow-child.ts), from
 *              launch until N bytes have arrived; its RSS is sampled every 5 ms (peak − baseline
 *              after a GC).
 *   reference: `ssh … 'setsid -f sh -c "… > log"'`, then `ssh … tail -c +1 -f log` until N bytes.
 * Both streams are hashed and compared with `sha256sum` of the log in the pod.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { BenchEnv } from './env';
import { exited, interleave, now, runTool, type BenchConfig, type ScenarioResult } from './measure';

const writer = (bytes: number): string => `seq 1 999999999 | head -c ${bytes}`;

interface ChildResult {
  ms: number;
  bytes: number;
  sha256: string;
  jobId: string;
  logPath: string;
  baselineRss: number;
  peakRss: number;
  afterGcRss: number;
  followedOffset: number;
}

async function podSha(env: BenchEnv, file: string): Promise<string> {
  return (await env.sh(`sha256sum ${file}`)).split(' ')[0];
}

export async function benchLogFollow(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const full = cfg.quick ? 4 * 1024 * 1024 : 1024 ** 3;
  const warmup = Math.min(full, 16 * 1024 * 1024);
  const reps = Math.min(cfg.reps, 3); // 1 GiB runs: keep the whole bench within minutes
  const growth: number[] = [];
  const retained: number[] = [];

  const ours = async (rep: number): Promise<number> => {
    const bytes = rep < 0 ? warmup : full;
    const input = { host: env.sshHost, port: env.sshPort, keyFile: env.keyFile, bytes, command: writer(bytes) };
    const r = await runTool(process.execPath, [
      '--expose-gc',
      '--import',
      'tsx',
      path.join(__dirname, 'follow-child.ts'),
      JSON.stringify(input),
    ]);
    const res = JSON.parse(r.stdout.toString('utf8').trim().split('\n').pop() ?? '{}') as ChildResult;
    if (res.bytes !== bytes || res.followedOffset !== bytes)
      throw new Error(`bench follow (ours): got ${res.bytes} bytes (follow ended at ${res.followedOffset}), expected ${bytes}`);
    const there = await podSha(env, res.logPath);
    if (there !== res.sha256) throw new Error('bench follow (ours): the followed stream differs from the log in the pod');
    await env.sh(`rm -rf ${path.posix.dirname(res.logPath)}`);
    if (rep >= 0) {
      growth.push(res.peakRss - res.baselineRss);
      retained.push(res.afterGcRss - res.baselineRss);
    }
    return bytes / 1e6 / (res.ms / 1000);
  };

  const reference = async (rep: number): Promise<number> => {
    const bytes = rep < 0 ? warmup : full;
    const log = '/workspace/bench-follow-ref.log';
    const t0 = now();
    await runTool('ssh', env.sshArgs(`setsid -f sh -c '${writer(bytes)}' < /dev/null > ${log} 2>&1`));
    const tail = spawn('ssh', env.sshArgs(`tail -c +1 -f ${log}`), { stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let got = 0;
    const ms = await new Promise<number>((resolve, reject) => {
      tail.stdout.on('data', (b: Buffer) => {
        const take = got + b.length > bytes ? b.subarray(0, bytes - got) : b;
        hash.update(take);
        got += take.length;
        if (got >= bytes) resolve(now() - t0);
      });
      tail.on('close', (code) => reject(new Error(`bench follow (reference): ssh tail -f ended (${code}) after ${got} bytes`)));
    });
    await exited(tail, true);
    if (hash.digest('hex') !== (await podSha(env, log)))
      throw new Error('bench follow (reference): the stream differs from the log in the pod');
    await env.sh(`rm -f ${log}`);
    return bytes / 1e6 / (ms / 1000);
  };

  const r = await interleave({ ...cfg, reps }, ours, reference);
  const maxGrowth = Math.max(...growth);
  const mib = (n: number): number => n / 1024 / 1024;
  return [
    {
      key: 'follow_throughput',
      label: `5. follow a log growing to ${full >= 1024 ** 3 ? '1 GiB' : `${mib(full)} MiB`} (followLog vs ssh tail -f)`,
      unit: 'MB/s',
      ours: r.ours,
      reference: r.reference,
      goal: 'every byte in order (sha256 = pod file)',
      met: true, // a mismatch throws above
      extra: { log_bytes: full, verified_sha256: true },
    },
    {
      key: 'follow_rss_growth',
      label: '5. follow: our peak RSS growth (MiB)',
      unit: 'MB',
      ours: growth.map(mib),
      goal: '< 64 MB',
      met: mib(maxGrowth) < 64,
      extra: {
        max_growth_mib: mib(maxGrowth),
        rss_after_gc_growth_mib: retained.map(mib),
        measure: 'peak RSS (sampled every 5 ms) − RSS after a GC before the follow, in a child process; MiB',
      },
    },
  ];
}

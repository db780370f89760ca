/**
 * Scenario 2 — a 200 MB file up and down.
 *   ours:      RemoteFs.upload / RemoteFs.download (what the product's Upload…/Download… and big
 *              editor files use: streamed exec `cat` / `dd`, resumable, atomic replace; over the
 *              system's OpenSSH client when present, else ssh2 — the row's `client`).
 *   reference: `scp -O` push / pull.
 * Every copy is checked (size, and the sha256 of the last run's files on both ends). `sync` runs
 * before each timed copy so no run pays for the previous one's dirty pages being written back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_OPENSSH_MIN_BYTES, RemoteFs } from '../../src/kgpu/fs/remote-fs';
import { sha256File } from '../../src/kgpu/transfer/bulk-transfer';
import type { BenchEnv } from './env';
import { interleave, now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

/** CPU time of each copy: ours from process.cpuUsage(), scp's through /usr/bin/time when present. */
class CpuMeter {
  private readonly samples = new Map<string, number[]>();
  private readonly haveTime = fs.existsSync('/usr/bin/time');

  private add(k: string, s: number): void {
    const a = this.samples.get(k) ?? [];
    a.push(s);
    this.samples.set(k, a);
  }

  async ours<T>(k: string, fn: () => Promise<T>): Promise<T> {
    const c0 = process.cpuUsage();
    const r = await fn();
    const c = process.cpuUsage(c0);
    this.add(`ours-${k}`, (c.user + c.system) / 1e6);
    return r;
  }

  async scp(k: string, args: string[]): Promise<void> {
    if (!this.haveTime) {
      await runTool('scp', args);
      return;
    }
    const r = await runTool('/usr/bin/time', ['-f', 'KGPU-CPU %U %S', 'scp', ...args]);
    const m = /KGPU-CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
    if (m) this.add(`scp-${k}`, Number(m[1]) + Number(m[2]));
  }

  median(k: string): number | null {
    const a = this.samples.get(k);
    return a && a.length ? summarize(a).median : null;
  }
}

export async function benchTransfer(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const mb = cfg.transferMb ?? (cfg.quick ? 4 : 200);
  const bytes = mb * 1024 * 1024;
  const src = path.join(env.tmp, 'transfer-src.bin');
  const fd = fs.openSync(src, 'w');
  for (let i = 0; i < mb; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
  fs.closeSync(fd);
  const srcHash = await sha256File(src);
  const rfs = new RemoteFs(env.connector);
  const cpu = new CpuMeter();
  const mbps = (ms: number): number => bytes / 1e6 / (ms / 1000);
  const sizeOf = (f: string): number => fs.statSync(f).size;
  try {
    // Upload: each side writes its own target.
    const reps = cfg.quick ? cfg.reps : Math.max(cfg.reps, 7);
    const up = await interleave(
      { ...cfg, reps },
      async () => {
        await runTool('sync', []);
        const t0 = now();
        await cpu.ours('up', () => rfs.upload(src, '/workspace/up-ours.bin'));
        return mbps(now() - t0);
      },
      async () => {
        await runTool('sync', []);
        const t0 = now();
        await cpu.scp('up', env.scpArgs(src, env.remote('/workspace/up-ref.bin')));
        return mbps(now() - t0);
      },
    );
    const remoteHashes = await env.sh('sha256sum /workspace/up-ours.bin /workspace/up-ref.bin');
    for (const line of remoteHashes.trim().split('\n')) {
      if (!line.startsWith(srcHash)) throw new Error(`bench transfer: an uploaded copy differs from the source: ${line}`);
    }
    // Download the same pod file.
    const oursDown = path.join(env.tmp, 'down-ours.bin');
    const refDown = path.join(env.tmp, 'down-ref.bin');
    const down = await interleave(
      { ...cfg, reps },
      async () => {
        fs.rmSync(oursDown, { force: true });
        await runTool('sync', []);
        const t0 = now();
        await cpu.ours('down', () => rfs.download('/workspace/up-ref.bin', oursDown));
        const v = mbps(now() - t0);
        if (sizeOf(oursDown) !== bytes) throw new Error('bench transfer: short download (ours)');
        return v;
      },
      async () => {
        fs.rmSync(refDown, { force: true });
        await runTool('sync', []);
        const t0 = now();
        await cpu.scp('down', env.scpArgs(env.remote('/workspace/up-ref.bin'), refDown));
        const v = mbps(now() - t0);
        if (sizeOf(refDown) !== bytes) throw new Error('bench transfer: short download (scp)');
        return v;
      },
    );
    for (const f of [oursDown, refDown]) {
      if ((await sha256File(f)) !== srcHash) throw new Error(`bench transfer: ${path.basename(f)} differs from the source`);
    }
    fs.rmSync(oursDown, { force: true });
    fs.rmSync(refDown, { force: true });
    await env.sh('rm -f /workspace/up-ours.bin /workspace/up-ref.bin');
    const row = (key: 'up' | 'down', label: string, r: { ours: number[]; reference: number[] }): ScenarioResult => {
      const ratio = summarize(r.ours).median / summarize(r.reference).median;
      return {
        key: key === 'up' ? 'upload' : 'download',
        label,
        unit: 'MB/s',
        ours: r.ours,
        reference: r.reference,
        goal: 'ratio ≥ 0.9',
        met: ratio >= 0.9,
        extra: {
          size_bytes: bytes,
          verified_sha256: true,
          // Which SSH client RemoteFs's copies used (remote-fs.ts: uploads from 16 MiB over OpenSSH
          // when present, else ssh2; downloads over ssh2).
          client: key === 'up' && bytes >= DEFAULT_OPENSSH_MIN_BYTES ? rfs.bulk().choice.client : 'ssh2',
          // CPU seconds per copy (median): where the time goes on a 2-core machine shared with the bastion.
          ours_cpu_s: cpu.median(`ours-${key}`),
          reference_cpu_s: cpu.median(`scp-${key}`),
          cpu_measure:
            'ours: process.cpuUsage() of the bench process (incl. libuv threads); scp: /usr/bin/time user+sys (null when absent)',
        },
      };
    };
    return [
      row('up', `2. upload ${mb} MB (RemoteFs.upload vs scp -O)`, up),
      row('down', `2. download ${mb} MB (RemoteFs.download vs scp -O)`, down),
    ];
  } finally {
    rfs.dispose();
    fs.rmSync(src, { force: true });
  }
}

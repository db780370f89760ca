/**
 * Before/after of issue 25's bulk-copy client, in one run, interleaved, per direction:
 *   ssh2:      RemoteFs with `bulkClient: 'ssh2'` (the path before: streamed exec over ssh2);
 *   openssh:   RemoteFs on the system's OpenSSH client — what the product's default (`bulkClient:
 *              'auto'`) picks when `ssh` is present (known_hosts made from our pin, the key in a
 *              0600 temp file; src/kgpu/transfer/bulk-client.ts); forced here so that it never
 *              silently falls back; same scripts, same resume logic;
 *   reference: `scp -O`.
 * Every copy is checked (sha256). Opt-in: `npm run bench -- --only openssh-bulk`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RemoteFs } from '../../src/kgpu/fs/remote-fs';
import { sha256File } from '../../src/kgpu/transfer/bulk-transfer';
import type { BenchEnv } from './env';
import { now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

export async function benchOpensshBulk(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const mb = cfg.transferMb ?? (cfg.quick ? 4 : 200);
  const bytes = mb * 1024 * 1024;
  const src = path.join(env.tmp, 'bulk-src.bin');
  const fd = fs.openSync(src, 'w');
  for (let i = 0; i < mb; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
  fs.closeSync(fd);
  const srcHash = await sha256File(src);
  const rfs = new RemoteFs(env.connector, { bulkClient: 'ssh2' });
  const ofs = new RemoteFs(env.connector, { bulkClient: 'openssh' });
  if (ofs.bulk().choice.client !== 'openssh') throw new Error(`bench openssh-bulk: OpenSSH unavailable: ${ofs.bulk().choice.reason}`);
  const mbps = (ms: number): number => bytes / 1e6 / (ms / 1000);
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    await runTool('sync', []);
    const t0 = now();
    await fn();
    return mbps(now() - t0);
  };
  const down = path.join(env.tmp, 'bulk-down.bin');
  const ways = {
    up: [
      () => timed(() => rfs.upload(src, '/workspace/bulk-ssh2.bin')),
      () => timed(() => ofs.upload(src, '/workspace/bulk-openssh.bin')),
      () => timed(() => runTool('scp', env.scpArgs(src, env.remote('/workspace/bulk-scp.bin')))),
    ],
    down: [
      () => timed(() => rfs.download('/workspace/bulk-scp.bin', down)),
      () => timed(() => ofs.download('/workspace/bulk-scp.bin', down)),
      () => timed(() => runTool('scp', env.scpArgs(env.remote('/workspace/bulk-scp.bin'), down))),
    ],
  };
  const out = { up: [[], [], []] as number[][], down: [[], [], []] as number[][] };
  try {
    for (const dir of ['up', 'down'] as const) {
      for (let i = -1; i < cfg.reps; i++) {
        for (let k = 0; k < 3; k++) {
          const w = (k + Math.max(i, 0)) % 3;
          fs.rmSync(down, { force: true });
          const v = await ways[dir][w]();
          if (i >= 0) out[dir][w].push(v);
          if (dir === 'down' && (await sha256File(down)) !== srcHash) throw new Error(`bench openssh-bulk: download way ${w} differs`);
        }
      }
      if (dir === 'up') {
        for (const l of (await env.sh('cd /workspace && sha256sum bulk-ssh2.bin bulk-openssh.bin bulk-scp.bin')).trim().split('\n'))
          if (!l.startsWith(srcHash)) throw new Error(`bench openssh-bulk: an upload differs: ${l}`);
      }
    }
  } finally {
    rfs.dispose();
    ofs.dispose();
    fs.rmSync(src, { force: true });
    fs.rmSync(down, { force: true });
    await env.sh('rm -f /workspace/bulk-*.bin').catch(() => undefined);
  }
  const rows: ScenarioResult[] = [];
  for (const dir of ['up', 'down'] as const) {
    for (const [w, name] of [
      [0, 'ssh2 (RemoteFs bulkClient ssh2, before)'],
      [1, 'system OpenSSH (RemoteFs bulkClient openssh)'],
    ] as const) {
      const ratio = summarize(out[dir][w]).median / summarize(out[dir][2]).median;
      rows.push({
        key: `bulk_${dir === 'up' ? 'upload' : 'download'}_${w === 0 ? 'ssh2' : 'openssh'}`,
        label: `2b. ${dir === 'up' ? 'upload' : 'download'} ${mb} MB via ${name} vs scp -O`,
        unit: 'MB/s',
        ours: out[dir][w],
        reference: out[dir][2],
        goal: 'ratio ≥ 0.9',
        met: ratio >= 0.9,
        extra: { size_bytes: bytes, verified_sha256: true },
      });
    }
  }
  return rows;
}

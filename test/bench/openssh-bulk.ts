/**
 * Investigation (issue 25): would bulk copies gain from the system's OpenSSH client instead of
 * ssh2? Three ways in one run, interleaved, per direction:
 *   ssh2:      RemoteFs.upload / RemoteFs.download (today's path);
 *   openssh:   what an OpenSSH-backed path would run — `ssh -F /dev/null -o BatchMode=yes
 *              -o StrictHostKeyChecking=yes -o UserKnownHostsFile=<file made from our pin>`
 *              with the identity file, `cat > tmp && mv tmp dest` / `cat src` over exec;
 *   reference: `scp -O`.
 * The known-hosts file holds only the key whose fingerprint equals the pin our connector made
 * (ssh-keyscan's keys are checked against it): OpenSSH refuses anything else. Not product code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RemoteFs } from '../../src/kgpu/fs/remote-fs';
import { sha256File } from '../../src/kgpu/transfer/bulk-transfer';
import { sshFingerprint } from '../../src/kgpu/ssh/host-keys';
import type { BenchEnv } from './env';
import { now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

/** A known_hosts file with the bastion's key, only if it matches our pin. */
async function knownHostsFromPin(env: BenchEnv, file: string): Promise<void> {
  const pin = env.hostKeys.get(`${env.sshHost}:${env.sshPort}`);
  if (!pin) throw new Error('bench openssh-bulk: our connector has pinned no host key yet');
  const scan = (await runTool('ssh-keyscan', ['-p', String(env.sshPort), env.sshHost])).stdout.toString('utf8');
  const line = scan
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f.length >= 3 && !f[0].startsWith('#') && sshFingerprint(Buffer.from(f[2], 'base64')) === pin);
  if (!line) throw new Error(`bench openssh-bulk: the bastion shows no key matching the pin ${pin}`);
  fs.writeFileSync(file, `[${env.sshHost}]:${env.sshPort} ${line[1]} ${line[2]}\n`, { mode: 0o600 });
}

export async function benchOpensshBulk(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const mb = cfg.transferMb ?? (cfg.quick ? 4 : 200);
  const bytes = mb * 1024 * 1024;
  const src = path.join(env.tmp, 'bulk-src.bin');
  const fd = fs.openSync(src, 'w');
  for (let i = 0; i < mb; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
  fs.closeSync(fd);
  const srcHash = await sha256File(src);
  const rfs = new RemoteFs(env.connector);
  await env.sh('true'); // our connector pins the bastion's key
  const knownHosts = path.join(env.tmp, 'known_hosts');
  await knownHostsFromPin(env, knownHosts);
  const ssh = (cmd: string): string[] => [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'IdentitiesOnly=yes',
    '-i',
    env.keyFile,
    '-p',
    String(env.sshPort),
    `kgpu@${env.sshHost}`,
    cmd,
  ];
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
      () =>
        timed(() =>
          runTool('sh', [
            '-c',
            `ssh "$@" < ${src}`,
            'ssh',
            ...ssh('cat > /workspace/.bulk-tmp && mv /workspace/.bulk-tmp /workspace/bulk-openssh.bin'),
          ]),
        ),
      () => timed(() => runTool('scp', env.scpArgs(src, env.remote('/workspace/bulk-scp.bin')))),
    ],
    down: [
      () => timed(() => rfs.download('/workspace/bulk-scp.bin', down)),
      () => timed(() => runTool('sh', ['-c', `ssh "$@" > ${down}`, 'ssh', ...ssh('cat /workspace/bulk-scp.bin')])),
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
    fs.rmSync(src, { force: true });
    fs.rmSync(down, { force: true });
    await env.sh('rm -f /workspace/bulk-*.bin').catch(() => undefined);
  }
  const rows: ScenarioResult[] = [];
  for (const dir of ['up', 'down'] as const) {
    for (const [w, name] of [
      [0, 'ssh2 (RemoteFs, today)'],
      [1, 'system OpenSSH exec cat, known_hosts from the pin'],
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

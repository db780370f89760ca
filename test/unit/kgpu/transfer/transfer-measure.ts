/**
 * The bastion runs in a child process (as with `npm run sim`): in-process, it would share one
 * JavaScript thread with our client while scp gets its own process — not a fair comparison.
 *
 * Measures bulk transfer throughput through the simulator's bastion: our upload/download
 * (streamed exec), ssh2 pipelined SFTP (fastPut/fastGet, 255 KiB chunks) and OpenSSH `scp -O`,
 * interleaved in the same run. Not a test (no timing asserts):
 *   node --import tsx test/unit/kgpu/transfer/transfer-measure.ts [MB=200] [reps=3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { SFTPWrapper } from 'ssh2';
import { RemoteFs } from '../../../../src/kgpu/fs/remote-fs';
import { openSftpOverExec } from '../../../../src/kgpu/ssh/sftp-over-exec';
import { maxWriteLen } from '../../../../src/kgpu/ssh/sftp-io';
import { startPodFixture } from '../ssh/pod-fixture';
import { PodConnector } from '../../../../src/kgpu/ssh/ssh-connection';
import { MemoryHostKeyStore } from '../../../../src/kgpu/ssh/host-keys';

/** Child mode: serve one pod, write its key to DIR/id (0600), print {host, port} and wait for stdin EOF. */
async function serve(dir: string): Promise<void> {
  const pod = await startPodFixture();
  fs.writeFileSync(path.join(dir, 'id'), pod.privateKey, { mode: 0o600 });
  process.stdout.write(JSON.stringify({ host: pod.bastion.host, port: pod.bastion.port }) + '\n');
  process.stdin.resume();
  await new Promise<void>((r) => process.stdin.on('end', () => r()));
  await pod.stop();
}

async function main(): Promise<void> {
  const mb = Number(process.argv[2] ?? 200);
  const reps = Number(process.argv[3] ?? 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-measure-'));
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--serve', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  const bastion = JSON.parse(first) as { host: string; port: number };
  const keyFile = path.join(dir, 'id');
  try {
    const src = path.join(dir, 'src.bin');
    const fd = fs.openSync(src, 'w');
    for (let i = 0; i < mb; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
    fs.closeSync(fd);
    const sshOpts = [
      '-O',
      '-P',
      String(bastion.port),
      '-i',
      keyFile,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      '-o',
      'IdentitiesOnly=yes',
    ];
    const connector = new PodConnector({
      host: bastion.host,
      port: bastion.port,
      privateKey: fs.readFileSync(keyFile),
      hostKeys: new MemoryHostKeyStore(),
    });
    const rfs = new RemoteFs(connector);
    const sftpOnce = async <T>(fn: (s: SFTPWrapper) => Promise<T>): Promise<T> => {
      const conn = await connector.connect();
      try {
        return await fn(await openSftpOverExec(conn.client));
      } finally {
        conn.close();
      }
    };
    const methods: Record<string, () => Promise<void>> = {
      'ours upload (exec cat)': async () => void (await rfs.upload(src, '/workspace/a.bin')),
      'ours download (exec cat)': async () => void (await rfs.download('/workspace/a.bin', path.join(dir, 'a.down'))),
      'rfs pipelined read stream': async () => {
        const { pipeline } = await import('node:stream/promises');
        await pipeline(
          rfs.createReadStream('/workspace/a.bin'),
          fs.createWriteStream(path.join(dir, 'd.down'), { highWaterMark: 4 << 20 }),
        );
      },
      'sftp fastPut 255KiB x64': () =>
        sftpOnce(
          (s) =>
            new Promise<void>((res, rej) =>
              s.fastPut(src, '/workspace/b.bin', { chunkSize: maxWriteLen(s), concurrency: 64 }, (e) => (e ? rej(e) : res())),
            ),
        ),
      'sftp fastGet 255KiB x64': () =>
        sftpOnce(
          (s) =>
            new Promise<void>((res, rej) =>
              s.fastGet('/workspace/b.bin', path.join(dir, 'b.down'), { chunkSize: maxWriteLen(s), concurrency: 64 }, (e) =>
                e ? rej(e) : res(),
              ),
            ),
        ),
      'scp -O push': async () => {
        // Async: the bastion runs in this process.
        await promisify(execFile)('scp', [...sshOpts, src, `kgpu@${bastion.host}:/workspace/c.bin`]);
      },
      'scp -O pull': async () => {
        await promisify(execFile)('scp', [...sshOpts, `kgpu@${bastion.host}:/workspace/c.bin`, path.join(dir, 'c.down')]);
      },
    };
    const results: Record<string, number[]> = {};
    for (let i = 0; i < reps; i++) {
      for (const [name, fn] of Object.entries(methods)) {
        const t0 = process.hrtime.bigint();
        await fn();
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        (results[name] ??= []).push(mb / s);
      }
    }
    console.log(`${mb} MB, ${reps} reps, MB/s (median [all]):`);
    const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    for (const [name, v] of Object.entries(results))
      console.log(`  ${name.padEnd(28)} ${med(v).toFixed(0).padStart(5)}  [${v.map((x) => x.toFixed(0)).join(', ')}]`);
    const ratio = (a: string, b: string): string => (med(results[a]) / med(results[b])).toFixed(2);
    console.log(
      `  upload ours/scp ${ratio('ours upload (exec cat)', 'scp -O push')}, sftp/scp ${ratio('sftp fastPut 255KiB x64', 'scp -O push')}`,
    );
    console.log(
      `  download ours/scp ${ratio('ours download (exec cat)', 'scp -O pull')}, sftp/scp ${ratio('sftp fastGet 255KiB x64', 'scp -O pull')}`,
    );
    rfs.dispose();
    connector.dispose();
  } finally {
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(process.argv[2] === '--serve' ? serve(process.argv[3]) : main()).catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

/**
 * Scenario 5's "ours" side, in its own process so its memory is ours alone (the bench process
 * holds buffers of its own): start a job that writes BYTES to its log as fast as it can and follow
 * it with startAndFollow (followLog), hashing the stream. Prints one JSON line:
 *   {ms, bytes, sha256, jobId, logPath, baselineRss, peakRss, afterGcRss, followedOffset}
 * Input: one JSON argument {host, port, keyFile, bytes, command}. Run with --expose-gc (baseline after a GC).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { MemoryHostKeyStore } from '../../src/kgpu/ssh/host-keys';
import { PodConnector } from '../../src/kgpu/ssh/ssh-connection';
import { podCommands } from '../../src/kgpu/ssh/pod-commands';
import { startAndFollow } from '../../src/kgpu/jobs/log-follow';
import { DEFAULT_JOBS_ROOT, newJobId } from '../../src/kgpu/jobs/jobs';

interface Input {
  host: string;
  port: number;
  keyFile: string;
  bytes: number;
  /** The job's command line (it writes `bytes` to stdout). */
  command: string;
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as Input;
  const connector = new PodConnector({
    host: input.host,
    port: input.port,
    privateKey: fs.readFileSync(input.keyFile),
    hostKeys: new MemoryHostKeyStore(),
  });
  const pod = podCommands(connector);
  (globalThis as { gc?: () => void }).gc?.();
  const baselineRss = process.memoryUsage().rss;
  let peakRss = baselineRss;
  const sample = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 5);
  const hash = createHash('sha256');
  let received = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const id = newJobId();
  const t0 = performance.now();
  let ms = 0;
  const run = startAndFollow(
    pod,
    { command: input.command, id, name: 'bench writer' },
    {
      onData(chunk) {
        hash.update(chunk);
        received += chunk.length;
        if (received >= input.bytes && ms === 0) {
          ms = performance.now() - t0;
          resolveAll();
        }
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    },
  );
  const result = await Promise.race([all.then(() => run.followed), run.followed]);
  if (ms === 0) ms = performance.now() - t0;
  clearInterval(sample);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  // What was still held at the end (vs garbage not yet collected): RSS after a full GC.
  (globalThis as { gc?: () => void }).gc?.();
  const afterGcRss = process.memoryUsage().rss;
  connector.dispose();
  process.stdout.write(
    JSON.stringify({
      ms,
      bytes: received,
      sha256: hash.digest('hex'),
      jobId: id,
      logPath: `${DEFAULT_JOBS_ROOT}/${id}/log`,
      baselineRss,
      peakRss,
      afterGcRss,
      followedOffset: result.offset,
    }) + '\n',
  );
}

main().catch((e: unknown) => {
  console.error(`follow-child: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});

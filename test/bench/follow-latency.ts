/**
 * Scenario 5b — log-follow latency: a line written in the pod → shown here.
 *   ours:      startAndFollow (the run feature's launch + follow), the time each line reaches onData;
 *   reference: `ssh … 'setsid -f python … > log'`, then `ssh … tail -f log`.
 * The job waits until both followers are surely attached, then writes LINES lines 100 ms apart,
 * each carrying the pod's wall clock (the pod is a namespace on this machine: the same clock); a
 * run's value is the median over its lines of (time shown − time written).
 */
import { spawn } from 'node:child_process';
import { startAndFollow } from '../../src/kgpu/jobs/log-follow';
import { newJobId } from '../../src/kgpu/jobs/jobs';
import type { BenchEnv } from './env';
import { exited, interleave, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

/** Seconds the job waits before its first line (a follower over a 150 ms link needs ~1 s to attach). */
const SETTLE_S = 2.5;

const program = (lines: number): string =>
  `import time\ntime.sleep(${SETTLE_S})\nfor i in range(${lines}):\n    print(f"t={time.time() * 1000:.1f}", flush=True)\n    time.sleep(0.1)\n`;

/** Feed text, get (shown − written) for each complete `t=…` line. */
function lineLatencies(): { feed(text: string): void; values: number[] } {
  let buf = '';
  const values: number[] = [];
  return {
    values,
    feed(text) {
      const shown = Date.now();
      buf += text;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const m = /^t=([\d.]+)$/.exec(buf.slice(0, nl).trim());
        buf = buf.slice(nl + 1);
        if (m) values.push(shown - Number(m[1]));
      }
    },
  };
}

export async function benchFollowLatency(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const lines = cfg.quick ? 5 : 10;
  const script = '/workspace/bench-follow-latency.py';
  await env.sh(`cat > ${script}`, Buffer.from(program(lines)));
  const check = (who: string, got: number): void => {
    if (got !== lines) throw new Error(`bench follow latency (${who}): ${got} lines, expected ${lines}`);
  };

  const r = await interleave(
    cfg,
    async () => {
      const lat = lineLatencies();
      const run = startAndFollow(
        env.pod,
        { command: `python3 ${script}`, id: newJobId(), name: 'bench follow latency' },
        {
          onData: (chunk) => lat.feed(chunk.toString('utf8')),
        },
      );
      await run.followed;
      check('ours', lat.values.length);
      return summarize(lat.values).median;
    },
    async () => {
      const log = '/workspace/bench-follow-latency.log';
      await runTool('ssh', env.sshArgs(`setsid -f python3 ${script} < /dev/null > ${log} 2>&1`));
      const tail = spawn('ssh', env.sshArgs(`tail -n +1 -f ${log}`), { stdio: ['ignore', 'pipe', 'pipe'] });
      const lat = lineLatencies();
      await new Promise<void>((resolve, reject) => {
        tail.stdout.on('data', (b: Buffer) => {
          lat.feed(b.toString('utf8'));
          if (lat.values.length >= lines) resolve();
        });
        tail.on('close', (code) => reject(new Error(`bench follow latency (reference): ssh tail -f ended (${code})`)));
      });
      await exited(tail, true);
      check('reference', lat.values.length);
      return summarize(lat.values).median;
    },
  );
  return [
    {
      key: 'follow_latency',
      label: '5. log follow latency: line written in the pod → shown (startAndFollow vs ssh tail -f)',
      unit: 'ms',
      ours: r.ours,
      reference: r.reference,
      goal: '—',
      met: null,
      extra: { lines_per_run: lines, measure: 'median over a run’s lines of (time shown − pod wall clock at write)' },
    },
  ];
}

/**
 * Issue 25 row — a forwarded connection's open, per link profile (`npm run bench -- --only
 * forward-open --profiles all`): what opening a forwarded port costs the user on each link.
 *   ours:      AgentClient.openStream() to a TCP port on the pod's loopback with the agent up (what
 *              a forwarded port does per new local connection), until the agent says connected;
 *   reference: the only way through this bastion without the agent — a new SSH connection + exec
 *              that connects (`exec 3<>/dev/tcp/127.0.0.1/PORT && echo ok`), until its `ok`.
 * Interleaved after a warm-up; SSH handshakes through the link counted for each side (the
 * critical path's handshakes: 0 for an open on the running agent, 1 per reference open).
 */
import { AgentClient } from '../../src/kgpu/agent';
import { quoteArgv } from '../../src/kgpu/util/shell-quote';
import { execStream } from '../../src/kgpu/ssh/ssh-exec';
import { parsePort, podHttpServerArgv } from '../unit/agent/pod-http-server';
import type { BenchEnv } from './env';
import { interleave, now, summarize, type BenchConfig, type ScenarioResult } from './measure';

const DIR = '/workspace/forward-open-bench';

export async function benchForwardOpen(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  await env.sh(`rm -rf ${DIR} && mkdir -p ${DIR} && echo hi > ${DIR}/index.html`);
  const port = parsePort(await env.sh(quoteArgv(podHttpServerArgv(DIR))));
  const client = new AgentClient({ exec: (cmd, o) => execStream(env.connector, cmd, o) });
  const shakes = { ours: [] as number[], reference: [] as number[] };
  const counted = async <T>(side: 'ours' | 'reference', rep: number, fn: () => Promise<T>): Promise<T> => {
    const h0 = await env.handshakes();
    const r = await fn();
    const h1 = await env.handshakes();
    if (rep >= 0 && h0 !== null && h1 !== null) shakes[side].push(h1 - h0);
    return r;
  };
  try {
    await client.start();
    const reps = cfg.quick ? cfg.reps : Math.max(cfg.reps, 7);
    const open = await interleave(
      { ...cfg, reps },
      (rep) =>
        counted('ours', rep, async () => {
          const t0 = now();
          const s = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port });
          const ms = now() - t0;
          s.destroy();
          return ms;
        }),
      (rep) =>
        counted('reference', rep, async () => {
          const t0 = now();
          const s = await execStream(env.connector, `exec 3<>/dev/tcp/127.0.0.1/${port} && echo ok`);
          s.stderr.resume();
          let out = '';
          s.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
          await s.done;
          if (out !== 'ok\n') throw new Error(`bench forward-open: the reference connect printed ${JSON.stringify(out)}`);
          return now() - t0;
        }),
    );
    const h = (a: number[]): number | null => (a.length ? summarize(a).median : null);
    // Counted through the emulated link only (loopback has none to count).
    const handshakes = h(shakes.ours) === null ? '' : ` (${h(shakes.ours)} vs ${h(shakes.reference)} handshakes)`;
    return [
      {
        key: 'forward_open',
        label: `7. forwarded connection open (agent openStream vs new SSH connection + exec /dev/tcp)${handshakes}`,
        unit: 'ms',
        ours: open.ours,
        reference: open.reference,
        goal: '—',
        met: null,
        extra: { ours_handshakes: h(shakes.ours), reference_handshakes: h(shakes.reference) },
      },
    ];
  } finally {
    client.dispose();
    await env.sh(`rm -rf ${DIR}`).catch(() => undefined); // the server goes with the bench's pod
  }
}

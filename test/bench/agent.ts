/**
 * Scenario 7 — the pod agent (src/kgpu/agent, pod/agent.py): many streams over one exec channel.
 * A static HTTP server runs on the pod's loopback (test/unit/agent/pod-http-server.ts).
 *   open:       openStream() to the server's TCP port with the agent up, until the agent says it
 *               is connected — vs the only alternative through this bastion: a new SSH connection
 *               + exec of a command that connects (`exec 3<>/dev/tcp/127.0.0.1/PORT; echo ok`),
 *               until its `ok`. Also at 40 ms RTT (latency proxy in front of the bastion).
 *   throughput: one TCP stream through the agent (GET of a file) vs a bare exec `cat` of the same
 *               file, from the first byte to the last; both copies checked by sha256 once.
 *   parallel:   50 (--quick: 10) concurrent HTTP GETs through one agent (one SSH connection, counted) vs as many
 *               (10) concurrent new SSH connections each exec'ing the same GET over /dev/tcp; every
 *               body checked by sha256.
 *   stall:      round trip of 64 bytes through a `cat` process stream while another stream sits
 *               stalled with its window full (never read) vs with no such stream; goal: no more
 *               than one frame (64 KiB at the measured stream throughput) slower.
 *   telemetry:  GPU telemetry's wire bytes per second per GPU (telemetry-bytes.ts).
 * Our side is the product's AgentClient over the bench's PodConnector (no spare connections).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AgentClient, DEFAULT_AGENT_WINDOW, type AgentStream } from '../../src/kgpu/agent';
import { quoteArgv } from '../../src/kgpu/util/shell-quote';
import { execStream } from '../../src/kgpu/ssh/ssh-exec';
import type { PodConnector } from '../../src/kgpu/ssh/ssh-connection';
import { httpGet, parsePort, parseResponse, podHttpServerArgv } from '../unit/agent/pod-http-server';
import type { BenchEnv } from './env';
import { startLatencyProxy } from './latency-proxy';
import { benchTelemetryBytes } from './telemetry-bytes';
import { interleave, now, summarize, type BenchConfig, type ScenarioResult } from './measure';

const DIR = '/workspace/agent-bench';
const RTT_MS = 40;
const FRAME = 64 * 1024;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A new SSH connection + exec that connects to the pod-local port; resolves once connected. */
async function execConnect(connector: PodConnector, port: number): Promise<void> {
  const s = await execStream(connector, `exec 3<>/dev/tcp/127.0.0.1/${port} && echo ok`);
  s.stderr.resume();
  const out = await readAll(s.stdout);
  await s.done;
  if (out.toString() !== 'ok\n') throw new Error(`bench agent: the reference connect printed ${JSON.stringify(out.toString())}`);
}

/** Time from the first byte to the last of a stream (bytes, ms); `keep` collects the bytes. */
async function timeStream(r: Readable, keep: boolean): Promise<{ bytes: number; ms: number; data?: Buffer }> {
  let t0 = 0;
  let bytes = 0;
  const chunks: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) {
    if (bytes === 0) t0 = now();
    bytes += c.length;
    if (keep) chunks.push(c);
  }
  return { bytes, ms: now() - t0, data: keep ? Buffer.concat(chunks) : undefined };
}

export async function benchAgent(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const bigMb = cfg.quick ? 4 : 64;
  const reqs = cfg.quick ? 10 : 50;
  let tPhase = now();
  const phase = (what: string): void => {
    cfg.log(`    agent: ${what} ${((now() - tPhase) / 1000).toFixed(1)} s`);
    tPhase = now();
  };
  // Files: one big, 50 small ones (8–200 KiB); their hashes from the pod.
  await env.sh(
    `rm -rf ${DIR} && mkdir -p ${DIR} && head -c ${bigMb * 1024 * 1024} /dev/urandom > ${DIR}/big.bin && ` +
      `for i in $(seq 0 ${reqs - 1}); do head -c $(( 8192 + (i * 7919) % 196608 )) /dev/urandom > ${DIR}/p$i.bin; done`,
  );
  const hashes = new Map<string, string>();
  for (const line of (await env.sh(`cd ${DIR} && sha256sum *.bin`)).trim().split('\n')) {
    const [h, name] = line.split(/\s+/);
    hashes.set(name, h);
  }
  const port = parsePort(await env.sh(quoteArgv(podHttpServerArgv(DIR))));
  const tcp = { kind: 'tcp' as const, host: '127.0.0.1', port };
  phase('set-up (files, HTTP server)');
  const client = new AgentClient({ exec: (cmd, o) => execStream(env.connector, cmd, o) });
  const proxy = await startLatencyProxy({ host: env.sshHost, port: env.sshPort }, RTT_MS / 2);
  const wan = env.via(proxy.port);
  const wanClient = new AgentClient({ exec: (cmd, o) => execStream(wan.connector, cmd, o) });
  try {
    // --- open a stream with the agent up vs a new SSH connection + exec
    await client.start();
    phase('agent start');
    const openReps = cfg.quick ? cfg.reps : Math.max(cfg.reps, 20);
    const open = await interleave(
      { ...cfg, reps: openReps },
      async () => {
        const t0 = now();
        const s = await client.openStream(tcp);
        const ms = now() - t0;
        s.destroy();
        return ms;
      },
      async () => {
        const t0 = now();
        await execConnect(env.connector, port);
        return now() - t0;
      },
    );
    phase('open');
    await wanClient.start();
    const wanReps = cfg.quick ? cfg.reps : Math.max(cfg.reps, 7);
    const openWan = await interleave(
      { ...cfg, reps: wanReps },
      async () => {
        const t0 = now();
        const s = await wanClient.openStream(tcp);
        const ms = now() - t0;
        s.destroy();
        return ms;
      },
      async () => {
        const t0 = now();
        await execConnect(wan.connector, port);
        return now() - t0;
      },
    );
    wanClient.dispose();
    phase(`open at ${RTT_MS} ms RTT`);

    // --- one stream's throughput vs a bare exec cat
    const bigBytes = bigMb * 1024 * 1024;
    let verified = false;
    const tput = await interleave(
      { ...cfg, reps: cfg.quick ? cfg.reps : Math.max(cfg.reps, 5) },
      async (rep) => {
        const s = await client.openStream(tcp);
        s.write('GET /big.bin HTTP/1.0\r\n\r\n');
        const r = await timeStream(s, rep < 0);
        if (r.data) {
          const body = parseResponse(r.data).body;
          if (body.length !== bigBytes || sha(body) !== hashes.get('big.bin'))
            throw new Error('bench agent: the stream through the agent differs from the pod file');
          verified = true;
        } else if (r.bytes < bigBytes) throw new Error(`bench agent: short stream through the agent (${r.bytes})`);
        return r.bytes / 1e6 / (r.ms / 1000);
      },
      async (rep) => {
        const e = await execStream(env.connector, `cat ${DIR}/big.bin`);
        e.stderr.resume();
        const r = await timeStream(e.stdout, rep < 0);
        await e.done;
        if (r.data && sha(r.data) !== hashes.get('big.bin')) throw new Error('bench agent: exec cat differs from the pod file');
        if (r.bytes !== bigBytes) throw new Error(`bench agent: short exec cat (${r.bytes})`);
        return r.bytes / 1e6 / (r.ms / 1000);
      },
    );

    phase('throughput');
    // --- parallel HTTP requests: one SSH connection vs one each
    const names = Array.from({ length: reqs }, (_, i) => `p${i}.bin`);
    const check = (name: string, body: Buffer): void => {
      if (sha(body) !== hashes.get(name)) throw new Error(`bench agent: ${name} arrived corrupted (${body.length} bytes)`);
    };
    const connections: number[] = [];
    const parallel = await interleave(
      { ...cfg, reps: cfg.quick ? cfg.reps : Math.max(cfg.reps, 5) },
      async (rep) => {
        client.closeAgent(); // counted from the agent's start: its one SSH connection
        const before = env.connector.connectStats.fresh;
        const t0 = now();
        await Promise.all(
          names.map(async (name) => {
            const s = await client.openStream(tcp);
            const r = await httpGet(s, `/${name}`);
            if (r.status !== 200) throw new Error(`bench agent: HTTP ${r.status} for ${name}`);
            check(name, r.body);
          }),
        );
        const ms = now() - t0;
        if (rep >= 0) connections.push(env.connector.connectStats.fresh - before);
        return ms;
      },
      async () => {
        const t0 = now();
        await Promise.all(
          names.map(async (name) => {
            const e = await execStream(
              env.connector,
              `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET /${name} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`,
            );
            e.stderr.resume();
            const out = await readAll(e.stdout);
            await e.done;
            check(name, parseResponse(out).body);
          }),
        );
        return now() - t0;
      },
    );

    phase('parallel');
    // --- a stalled stream vs none: round trips of 64 bytes through a cat stream
    const echo = await client.openStream({ kind: 'process', argv: ['cat'] });
    let echoed = 0;
    let want = 0;
    let wake: (() => void) | undefined;
    echo.on('data', (c: Buffer) => {
      echoed += c.length;
      if (echoed >= want) wake?.();
    });
    const probe = Buffer.alloc(64, 0x2a);
    const rtts = async (n: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        want = echoed + probe.length;
        const t0 = now();
        await new Promise<void>((resolve) => {
          wake = resolve;
          echo.write(probe);
        });
        out.push(now() - t0);
      }
      return out;
    };
    const n = cfg.quick ? 10 : 60;
    const stalledMs: number[] = [];
    const baselineMs: number[] = [];
    await rtts(n); // warm-up
    for (let rep = 0; rep < cfg.reps; rep++) {
      const base1 = await rtts(n);
      const stalled: AgentStream = await client.openStream(tcp);
      stalled.write('GET /big.bin HTTP/1.0\r\n\r\n');
      const deadline = Date.now() + 30_000;
      while (stalled.readableLength < DEFAULT_AGENT_WINDOW) {
        if (Date.now() > deadline) throw new Error('bench agent: the stalled stream never filled its window');
        await new Promise((r) => setTimeout(r, 5));
      }
      const during = await rtts(n);
      stalled.destroy();
      const base2 = await rtts(n);
      stalledMs.push(summarize(during).median);
      baselineMs.push(summarize([...base1, ...base2]).median);
    }
    echo.destroy();
    phase('stall');

    const med = (a: number[]): number => summarize(a).median;
    const openRatio = med(open.ours) / med(open.reference);
    const wanRatio = med(openWan.ours) / med(openWan.reference);
    const tputRatio = med(tput.ours) / med(tput.reference);
    const frameMs = (FRAME / 1e6 / med(tput.ours)) * 1000;
    const stallDiff = med(stalledMs) - med(baselineMs);
    const allOneConnection = connections.every((c) => c === 1);
    const telemetryBytes = await benchTelemetryBytes(env, cfg);
    phase('telemetry bytes');
    return [
      {
        key: 'agent_open',
        label: '7. agent: open a TCP stream in the pod, agent up (vs new SSH connection + exec)',
        unit: 'ms',
        ours: open.ours,
        reference: open.reference,
        goal: 'ratio ≤ 0.25',
        met: openRatio <= 0.25,
        extra: { reference_path: 'new PodConnector connection + exec `exec 3<>/dev/tcp/127.0.0.1/PORT && echo ok`' },
      },
      {
        key: 'agent_open_wan',
        label: `7. agent: the same at ${RTT_MS} ms RTT (latency proxy)`,
        unit: 'ms',
        ours: openWan.ours,
        reference: openWan.reference,
        goal: 'ratio ≤ 0.25; ~1 RTT',
        met: wanRatio <= 0.25,
        extra: { rtt_ms: RTT_MS, ours_in_rtts: med(openWan.ours) / RTT_MS },
      },
      {
        key: 'agent_throughput',
        label: `7. agent: one TCP stream, ${bigMb} MiB (vs exec cat)`,
        unit: 'MB/s',
        ours: tput.ours,
        reference: tput.reference,
        goal: 'ratio ≥ 0.8',
        met: tputRatio >= 0.8,
        extra: { size_bytes: bigBytes, verified_sha256: verified, measured: 'first byte to last byte' },
      },
      {
        key: 'agent_parallel_http',
        label: `7. agent: ${reqs} parallel HTTP GETs over one SSH connection (vs ${reqs} connections + exec)`,
        unit: 'ms',
        ours: parallel.ours,
        reference: parallel.reference,
        goal: 'all correct, 1 SSH connection',
        met: allOneConnection,
        extra: { requests: reqs, verified_sha256: true, ssh_connections_ours: connections, ssh_connections_reference: reqs },
      },
      {
        key: 'agent_stall',
        label: '7. agent: 64-byte round trip while another stream is stalled (vs none stalled)',
        unit: 'ms',
        ours: stalledMs,
        reference: baselineMs,
        goal: `≤ +1 frame (64 KiB at the stream rate: ${frameMs.toFixed(2)} ms)`,
        met: stallDiff <= frameMs,
        extra: { frame_ms: frameMs, difference_ms: stallDiff, round_trips_per_rep: n, stalled_window_bytes: DEFAULT_AGENT_WINDOW },
      },
      telemetryBytes,
    ];
  } finally {
    client.dispose();
    wanClient.dispose();
    await proxy.close();
    await env.sh(`rm -rf ${DIR}`).catch(() => undefined);
  }
}

/**
 * Scenario 7 (agent), last row — GPU telemetry's cost on the wire: bytes per second per GPU, both
 * directions, counted by a TCP pass-through in front of the bastion (so SSH's own framing,
 * encryption and the agent's frames are all in), while GpuTelemetry (src/kgpu/telemetry/) runs its
 * one `nvidia-smi -lms 1000` loop through the pod agent — vs the only way without the agent: a new
 * SSH connection + exec of the same query once per second. Goal (issue 19): < 1 KB/s per GPU.
 */
import net from 'node:net';
import { AgentClient } from '../../src/kgpu/agent';
import { execStream, exec } from '../../src/kgpu/ssh/ssh-exec';
import { GpuTelemetry, telemetryArgv } from '../../src/kgpu/telemetry';
import type { BenchEnv } from './env';
import { now, summarize, type BenchConfig, type ScenarioResult } from './measure';

interface Counter {
  port: number;
  bytes: number;
  close(): Promise<void>;
}

function countingProxy(target: { host: string; port: number }): Promise<Counter> {
  const sockets = new Set<net.Socket>();
  const c: Counter = { port: 0, bytes: 0, close: async () => undefined };
  const server = net.createServer((a) => {
    const b = net.connect(target);
    for (const s of [a, b]) sockets.add(s);
    a.on('data', (d: Buffer) => (c.bytes += d.length));
    b.on('data', (d: Buffer) => (c.bytes += d.length));
    a.pipe(b).on('error', () => a.destroy());
    b.pipe(a).on('error', () => b.destroy());
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      c.port = (server.address() as net.AddressInfo).port;
      c.close = () => {
        for (const s of sockets) s.destroy();
        return new Promise((r) => server.close(() => r()));
      };
      resolve(c);
    }),
  );
}

export async function benchTelemetryBytes(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult> {
  const windowMs = cfg.quick ? 3000 : 10_000;
  const counter = await countingProxy({ host: env.sshHost, port: env.sshPort });
  const via = env.via(counter.port);
  const client = new AgentClient({ exec: (cmd, o) => execStream(via.connector, cmd, o) });
  const telemetry = new GpuTelemetry({ openStream: (t, o) => client.openStream(t, o) });
  const ours: number[] = [];
  const reference: number[] = [];
  let gpus = 1;
  try {
    telemetry.start();
    const deadline = now() + 30_000;
    while (telemetry.snapshots < 2) {
      if (now() > deadline) throw new Error('bench telemetry: no snapshots within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    gpus = telemetry.latest?.gpus.length ?? 1;
    for (let i = 0; i < cfg.reps; i++) {
      const b0 = counter.bytes;
      const t0 = now();
      await new Promise((r) => setTimeout(r, windowMs));
      ours.push((counter.bytes - b0) / ((now() - t0) / 1000) / gpus);
    }
    telemetry.stop();
    // Without the agent: one new connection + exec per second.
    const once = telemetryArgv().slice(0, 3).join(' ');
    for (let i = 0; i < cfg.reps; i++) {
      const b0 = counter.bytes;
      const r = await exec(via.connector, once);
      if (r.exitCode !== 0) throw new Error(`bench telemetry: ${once} failed: ${r.stderr.toString()}`);
      reference.push((counter.bytes - b0) / gpus); // bytes per poll = bytes/s at 1 Hz
    }
  } finally {
    telemetry.dispose();
    client.dispose();
    await counter.close();
  }
  const med = summarize(ours).median;
  return {
    key: 'agent_telemetry_bytes',
    label: '7. agent: GPU telemetry on the wire, per GPU (nvidia-smi loop via the agent vs a new SSH exec each second)',
    unit: 'bytes',
    ours,
    reference,
    goal: '< 1000 bytes/s per GPU',
    met: med < 1000,
    extra: { unit_detail: 'bytes per second per GPU, both directions, SSH included', gpus, window_ms: windowMs },
  };
}

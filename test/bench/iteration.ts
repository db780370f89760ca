/**
 * Scenario 1 — iteration: edit one line of a 20-file project and run it on a warm pod until the
 * first log line arrives.
 *   ours:      the run feature's one code path, JobRunner.runFile (src/kgpu/jobs/job-runner.ts: the
 *              follower opened first, sync with the hash cache kept, start), timed until the first
 *              complete line reaches onData, over a PodConnector with 2 spare connections as the
 *              editor's connection router builds it; also without spares (the library's default).
 *   reference: the contract's manual flow with real OpenSSH: `scp -O` the changed file,
 *              `ssh … 'setsid -f python … > log'`, `ssh … tail -f log` until its first line.
 * Measured twice: on loopback, and through a proxy adding RTT_MS of round-trip time.
 * Each run checks that the first line carries the value just edited in (the new code ran).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { syncUp } from '../../src/kgpu/transfer/sync';
import { JobRunner } from '../../src/kgpu/jobs/job-runner';
import { quote } from '../../src/kgpu/util/shell-quote';
import type { BenchEnv, Transport } from './env';
import { startLatencyProxy } from './latency-proxy';
import { exited, now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';
import { describePhases, PhaseTracer } from './run-phases';

const FILES = 20;
/** Round-trip time of the second measurement (a typical laptop → cloud region link). */
const RTT_MS = 40;

function writeProject(dir: string): void {
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  for (let i = 1; i < FILES; i++) {
    const body = [`"""Module ${i} of the bench project."""`, '', `def f${i}(x):`, `    return x * ${i} + 1`, ''];
    for (let j = 0; j < 60; j++) body.push(`# filler line ${j} to give the module a realistic size (${'x'.repeat(20)})`);
    fs.writeFileSync(path.join(dir, 'lib', `m${i}.py`), body.join('\n') + '\n');
  }
  fs.writeFileSync(path.join(dir, 'lib', '__init__.py'), '');
  writeMain(dir, 0);
}

function writeMain(dir: string, version: number): void {
  const text = [
    'import sys',
    'import time',
    'from lib.m1 import f1',
    `VERSION = ${version}`,
    'print(f"step 0 version={VERSION} loss={1.0 / (1 + f1(VERSION)):.4f} t_ms={time.time() * 1000:.0f}", flush=True)',
    'for step in range(1, 3):',
    '    print(f"step {step} loss={1.0 / (step + 2):.4f}", flush=True)',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'main.py'), text);
}

export async function benchIteration(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const oursDir = path.join(env.tmp, 'iter-ours');
  const refDir = path.join(env.tmp, 'iter-ref');
  const stateDir = path.join(env.tmp, 'iter-state');
  writeProject(oursDir);
  writeProject(refDir);
  const remoteOurs = '/workspace/iter-ours';
  const remoteRef = '/workspace/iter-ref';
  // Warm pod: both copies are there before the timed edits (the first sync of ours, a full scp for the reference).
  await syncUp(env.pod, oursDir, remoteOurs, { stateDir });
  await runTool('scp', env.scpArgs('-r', refDir, env.remote('/workspace/'))); // → /workspace/iter-ref

  let version = 0;
  // SSH connections opened during each way's runs (through an emulated link's delay line only).
  const handshakes: (number | null)[][] = [[], [], []];
  const measure = async (
    t: Transport,
    reps: number,
  ): Promise<{ ours: number[]; noSpares: number[]; reference: number[]; phases: Record<string, unknown> }> => {
    const sparePod = t.sparePod();
    // The spare-connection runs' phases (run-phases.ts), measured runs only.
    const tracer = new PhaseTracer();
    const tracedPod = tracer.wrap(sparePod);
    const runner = new JobRunner({ commands: async () => tracedPod, syncStateDir: stateDir, pollMs: 0 });
    const noSparesRunner = new JobRunner({ commands: async () => t.pod, syncStateDir: stateDir, pollMs: 0 });
    const run = async (r: JobRunner): Promise<number> => {
      const v = ++version;
      writeMain(oursDir, v);
      let text = '';
      let resolveLine!: (line: string) => void;
      const firstLine = new Promise<string>((r) => (resolveLine = r));
      const traced = r === runner;
      const t0 = now();
      if (traced) tracer.begin();
      const handle = r.runFile({
        podId: env.podId,
        target: { kind: 'local', folder: oursDir, file: path.join(oursDir, 'main.py') },
        python: 'python',
        args: [],
        env: {},
        onSyncProgress: traced ? tracer.onSyncProgress : undefined,
        onData(chunk) {
          if (traced) tracer.firstByte();
          text += chunk.toString('utf8');
          const nl = text.indexOf('\n');
          if (nl >= 0) resolveLine(text.slice(0, nl));
        },
      });
      const line = await Promise.race([firstLine, handle.done.then(() => firstLine)]);
      const ms = now() - t0;
      const end = await handle.done;
      if (traced) cfg.log(`    run phases (ms): ${describePhases(tracer.end(text, end.job.startedAt))}`);
      if (handle.plan.remoteDir !== remoteOurs)
        throw new Error(`bench iteration (ours): synced to ${handle.plan.remoteDir}, expected ${remoteOurs}`);
      if (!line.includes(`version=${v} `))
        throw new Error(`bench iteration (ours): the first line is ${JSON.stringify(line)}, expected version=${v}`);
      return ms;
    };

    const reference = async (): Promise<number> => {
      const v = ++version;
      writeMain(refDir, v);
      const log = '/tmp/kgpu-bench-iter-ref.log';
      const t0 = now();
      await runTool('scp', t.scpArgs(path.join(refDir, 'main.py'), env.remote(`${remoteRef}/main.py`)));
      await runTool('ssh', t.sshArgs(`setsid -f python ${quote(`${remoteRef}/main.py`)} < /dev/null > ${log} 2>&1`));
      const tail = spawn('ssh', t.sshArgs(`tail -f ${log}`), { stdio: ['ignore', 'pipe', 'pipe'] });
      const line = await new Promise<string>((resolve, reject) => {
        let text = '';
        tail.stdout.on('data', (b: Buffer) => {
          text += b.toString('utf8');
          const nl = text.indexOf('\n');
          if (nl >= 0) resolve(text.slice(0, nl));
        });
        tail.on('close', (code) => reject(new Error(`bench iteration (reference): ssh tail -f ended (${code}) before a line`)));
      });
      const ms = now() - t0;
      await exited(tail, true);
      if (!line.includes(`version=${v} `))
        throw new Error(`bench iteration (reference): the first line is ${JSON.stringify(line)}, expected version=${v}`);
      return ms;
    };

    // Three ways, interleaved; the order rotates every repetition; one unmeasured warm-up each.
    const ways = [() => run(runner), () => run(noSparesRunner), reference];
    const out: number[][] = [[], [], []];
    try {
      for (let i = -1; i < reps; i++) {
        for (let k = 0; k < ways.length; k++) {
          const w = (k + Math.max(i, 0)) % ways.length;
          const before = await env.handshakes();
          const ms = await ways[w]();
          const after = await env.handshakes();
          if (i >= 0) {
            out[w].push(ms);
            handshakes[w].push(before === null || after === null ? null : after - before);
          }
        }
      }
    } finally {
      runner.dispose();
      noSparesRunner.dispose();
    }
    tracer.runs.shift(); // the warm-up's
    return { ours: out[0], noSpares: out[1], reference: out[2], phases: tracer.summary() };
  };

  // Cheap runs with a wide spread: more of them than the default.
  const r = await measure(env, cfg.quick ? cfg.reps : Math.max(cfg.reps, cfg.profile ? 7 : 15));
  const counted = (w: number): number | null => {
    const a = handshakes[w].filter((x): x is number => x !== null);
    return a.length ? summarize(a).median : null;
  };
  if (cfg.profile) {
    // Across an emulated link: env itself crosses it; no extra latency-proxy rows.
    const med = summarize(r.ours).median;
    const ratio = med / summarize(r.reference).median;
    const goalMet = cfg.profile.rttMs > 0 ? ratio <= 0.3 : ratio <= 0.3 && med < 1000;
    return [
      {
        key: 'iteration',
        label: '1. iteration: edit → first log line',
        unit: 'ms',
        ours: r.ours,
        reference: r.reference,
        goal: cfg.profile.rttMs > 0 ? 'ratio ≤ 0.3' : 'ratio ≤ 0.3 and < 1000 ms',
        met: goalMet,
        extra: {
          files: FILES + 1,
          ours_handshakes: counted(0),
          reference_handshakes: counted(2),
          handshakes_measure: 'SSH connections opened through the link during a run (median; spares refilled meanwhile count)',
          phases:
            "ms from runFile() (run-phases.ts): local scan+hash done, follow/sync(+start) exec asked/open/returned, the job's started_at and the first line printed (pod clock = this clock), first byte; execs asked before it",
          ...r.phases,
          ours_path: 'JobRunner.runFile over a PodConnector with 2 spare connections',
          reference_path: 'scp -O file; ssh setsid -f python; ssh tail -f',
        },
      },
      {
        key: 'iteration_no_spares',
        label: '1. iteration without spare connections',
        unit: 'ms',
        ours: r.noSpares,
        reference: r.reference,
        goal: '—',
        met: null,
        extra: { ours_handshakes: counted(1), reference_handshakes: counted(2) },
      },
    ];
  }
  // The same through a proxy adding RTT_MS of round-trip time (a WAN-like link to the bastion).
  const proxy = await startLatencyProxy({ host: env.sshHost, port: env.sshPort }, RTT_MS / 2);
  const wan = await measure(env.via(proxy.port), cfg.quick ? cfg.reps : Math.max(cfg.reps, 7)).finally(() => proxy.close());
  const oursMed = summarize(r.ours).median;
  const ratio = oursMed / summarize(r.reference).median;
  return [
    {
      key: 'iteration',
      label: '1. iteration: edit → first log line',
      unit: 'ms',
      ours: r.ours,
      reference: r.reference,
      goal: 'ratio ≤ 0.3 and < 1000 ms',
      met: ratio <= 0.3 && oursMed < 1000,
      extra: {
        files: FILES + 1,
        ours_path: 'JobRunner.runFile (follower first; syncUp with the start in its exec) over a PodConnector with 2 spare connections',
        ...r.phases,
        reference_path: 'scp -O file; ssh setsid -f python; ssh tail -f',
      },
    },
    {
      key: 'iteration_wan',
      label: `1. iteration at ${RTT_MS} ms RTT (latency proxy)`,
      unit: 'ms',
      ours: wan.ours,
      reference: wan.reference,
      goal: 'ratio ≤ 0.3 and < 1000 ms',
      met: summarize(wan.ours).median / summarize(wan.reference).median <= 0.3 && summarize(wan.ours).median < 1000,
      extra: { rtt_ms: RTT_MS, measure: 'both sides through a TCP proxy delaying each direction by half the RTT' },
    },
    {
      key: 'iteration_no_spares',
      label: '1. iteration without spare connections (library default)',
      unit: 'ms',
      ours: r.noSpares,
      reference: r.reference,
      goal: '—',
      met: null,
      extra: { ours_path: 'JobRunner.runFile over a PodConnector without spare connections: every exec connects afresh' },
    },
    {
      key: 'iteration_wan_no_spares',
      label: `1. iteration at ${RTT_MS} ms RTT without spare connections`,
      unit: 'ms',
      ours: wan.noSpares,
      reference: wan.reference,
      goal: '—',
      met: null,
      extra: { rtt_ms: RTT_MS },
    },
  ];
}

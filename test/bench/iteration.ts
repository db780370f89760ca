/**
 * Scenario 1 — iteration: edit one line of a 20-file project and run it on a warm pod until the
 * first log line arrives.
 *   ours:      the run feature's path: syncUp (hash cache kept) + startAndFollow (job launch and
 *              log follower at once), timed until the first complete line reaches onData.
 *   reference: the contract's manual flow with real OpenSSH: `scp -O` the changed file,
 *              `ssh … 'setsid -f python … > log'`, `ssh … tail -f log` until its first line.
 * Each run checks that the first line carries the value just edited in (the new code ran).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { syncUp } from '../../src/kgpu/sync';
import { startAndFollow } from '../../src/kgpu/log-follow';
import { quote } from '../../src/kgpu/shell-quote';
import type { BenchEnv } from './env';
import { exited, interleave, now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

const FILES = 20;

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
    'from lib.m1 import f1',
    `VERSION = ${version}`,
    'print(f"step 0 version={VERSION} loss={1.0 / (1 + f1(VERSION)):.4f}", flush=True)',
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
  const ours = async (): Promise<number> => {
    const v = ++version;
    writeMain(oursDir, v);
    const t0 = now();
    await syncUp(env.pod, oursDir, remoteOurs, { stateDir });
    let text = '';
    let resolveLine!: (line: string) => void;
    const firstLine = new Promise<string>((r) => (resolveLine = r));
    const run = startAndFollow(env.pod, { argv: ['python', 'main.py'], cwd: remoteOurs }, {
      onData(chunk) {
        text += chunk.toString('utf8');
        const nl = text.indexOf('\n');
        if (nl >= 0) resolveLine(text.slice(0, nl));
      },
    });
    const line = await Promise.race([firstLine, run.followed.then(() => firstLine)]);
    const ms = now() - t0;
    await run.followed;
    if (!line.includes(`version=${v} `)) throw new Error(`bench iteration (ours): the first line is ${JSON.stringify(line)}, expected version=${v}`);
    return ms;
  };

  const reference = async (): Promise<number> => {
    const v = ++version;
    writeMain(refDir, v);
    const log = '/tmp/kgpu-bench-iter-ref.log';
    const t0 = now();
    await runTool('scp', env.scpArgs(path.join(refDir, 'main.py'), env.remote(`${remoteRef}/main.py`)));
    await runTool('ssh', env.sshArgs(`setsid -f python ${quote(`${remoteRef}/main.py`)} < /dev/null > ${log} 2>&1`));
    const tail = spawn('ssh', env.sshArgs(`tail -f ${log}`), { stdio: ['ignore', 'pipe', 'pipe'] });
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
    if (!line.includes(`version=${v} `)) throw new Error(`bench iteration (reference): the first line is ${JSON.stringify(line)}, expected version=${v}`);
    return ms;
  };

  const r = await interleave(cfg, ours, reference);
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
      extra: { files: FILES + 1, ours_path: 'syncUp + startAndFollow (src/kgpu/sync.ts, log-follow.ts)', reference_path: 'scp -O file; ssh setsid -f python; ssh tail -f' },
    },
  ];
}


/**
 * Scenario — sweep: N argument sets of a 20-file project on a warm pod.
 *   ours:      a Sweep (src/kgpu/sweeps/sweep.ts) of the N sets on the pod — the folder synced by
 *              its first run only, each later run started without a sync — until the last run ends.
 *   reference: the same N runs started one by one with the Run path (JobRunner.runFile, each
 *              syncing the folder as Run does), each awaited to its end.
 * Same pod, same runner options, same script; each run's log is checked for its own argument.
 * (One pod: the bench's simulator rents one; the spread over pods is tested in test/unit/sweeps.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { JobRunner } from '../../src/kgpu/jobs/job-runner';
import { newSweepPlan, Sweep } from '../../src/kgpu/sweeps/sweep';
import type { BenchEnv } from './env';
import { interleave, now, summarize, type BenchConfig, type ScenarioResult } from './measure';

function writeProject(dir: string): void {
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, 'lib', `m${i}.py`), `# module ${i}\n${'x = 1\n'.repeat(200)}`);
  fs.writeFileSync(path.join(dir, 'train.py'), 'import sys, json\nprint(json.dumps({"metric": "lr", "value": float(sys.argv[2])}))\n');
}

export async function benchSweep(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const n = cfg.quick ? 3 : 8;
  const dir = path.join(env.tmp, 'sweep-bench');
  writeProject(dir);
  const stateDir = path.join(env.tmp, 'sweep-bench-state');
  const pod = env.sparePod();
  const runner = new JobRunner({ commands: async () => pod, syncStateDir: stateDir, pollMs: 0 });
  const target = { kind: 'local' as const, folder: dir, file: path.join(dir, 'train.py') };
  const sets = (rep: number) => Array.from({ length: n }, (_, i) => ['--lr', String(rep * 100 + i + 1)]);
  const check = (lr: number | undefined, args: string[]) => {
    if (lr !== Number(args[1])) throw new Error(`sweep bench: run ${args.join(' ')} reported lr ${lr}`);
  };
  try {
    const r = await interleave(
      cfg,
      async (rep) => {
        const plan = newSweepPlan({ name: 'train.py', recipe: { target, python: 'python3' }, pods: [env.podId], runs: sets(rep + 1) });
        const t0 = now();
        const sweep = new Sweep(plan, { runner, env: () => ({}) }).start();
        await sweep.done;
        const ms = now() - t0;
        sweep.dispose();
        for (const run of plan.runs) check(run.metrics.lr, run.args);
        return ms;
      },
      async (rep) => {
        const t0 = now();
        for (const args of sets(rep + 1001)) {
          let text = '';
          const h = runner.runFile({
            podId: env.podId,
            target,
            python: 'python3',
            args,
            env: {},
            onData: (c) => void (text += c.toString()),
          });
          await h.done;
          check(Number(/"value": ([\d.]+)/.exec(text)?.[1]), args);
        }
        return now() - t0;
      },
    );
    const ratio = summarize(r.ours).median / summarize(r.reference).median;
    return [
      {
        key: 'sweep',
        label: `sweep: ${n} argument sets on a pod`,
        unit: 'ms',
        ours: r.ours,
        reference: r.reference,
        goal: 'ratio ≤ 0.9 (one sync per pod instead of one per run)',
        met: ratio <= 0.9,
        extra: {
          argument_sets: n,
          ours_path: 'Sweep (one sync per pod)',
          reference_path: 'JobRunner.runFile per run (sync each time), one after another',
        },
      },
    ];
  } finally {
    runner.dispose();
  }
}

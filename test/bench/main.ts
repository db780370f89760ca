/**
 * `npm run bench [-- --quick] [--only a,b] [--reps N] [--out FILE]`: our code against the manual
 * workflow's real OpenSSH clients, side by side in one run, on a simulator this process starts.
 * Prints a table (median, min, max, ratio ours/reference) and writes bench-results.json:
 *   { <scenario>: { ours_ms|ours_mbps|ours_bytes|…, reference_…, ratio, runs, goal, met, … } }
 * --quick: tiny sizes, 1 repetition (the smoke test in test/unit/bench runs it; it asserts no
 * timing goal). Not part of `npm test`.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { repoRoot, startBenchEnv, type BenchEnv } from './env';
import { summarize, type BenchConfig, type ScenarioResult } from './measure';
import { benchIteration } from './iteration';
import { benchTransfer } from './transfer';
import { benchListing } from './listing';
import { benchSync } from './sync-bytes';
import { benchLogFollow } from './log-follow';
import { benchActivation } from './activation';
import { benchAgent } from './agent';
import { benchWarmStart } from './warm-start';
import { benchNotebook } from './notebook';
import { benchDebug } from './debug';
import { benchSweep } from './sweep-runs';

type Scenario = (env: BenchEnv, cfg: BenchConfig) => Promise<ScenarioResult[]>;
const SCENARIOS: Record<string, Scenario> = {
  iteration: benchIteration,
  transfer: benchTransfer,
  listing: benchListing,
  sync: benchSync,
  follow: benchLogFollow,
  activation: benchActivation,
  agent: benchAgent,
  warm: benchWarmStart,
  notebook: benchNotebook,
  debug: benchDebug,
  sweep: benchSweep,
};

function parseArgs(argv: string[]): { quick: boolean; reps?: number; only?: string[]; out: string } {
  let quick = false;
  let reps: number | undefined;
  let only: string[] | undefined;
  let out = path.join(repoRoot, 'bench-results.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a === '--reps') reps = Number(val());
    else if (a === '--only') only = val().split(',');
    else if (a === '--out') out = path.resolve(val());
    else
      throw new Error(
        `unknown option ${a}; usage: npm run bench -- [--quick] [--reps N] [--only ${Object.keys(SCENARIOS).join(',')}] [--out FILE]`,
      );
  }
  for (const o of only ?? []) if (!SCENARIOS[o]) throw new Error(`unknown scenario ${o} (have ${Object.keys(SCENARIOS).join(', ')})`);
  if (reps !== undefined && !(Number.isInteger(reps) && reps >= 1)) throw new Error('--reps needs a whole number ≥ 1');
  return { quick, reps, only, out };
}

const UNIT_KEY: Record<ScenarioResult['unit'], string> = { ms: 'ms', 'MB/s': 'mbps', bytes: 'bytes', KB: 'kb', MB: 'mb' };

function fmt(v: number, unit: ScenarioResult['unit']): string {
  if (!Number.isFinite(v)) return '—';
  if (unit === 'bytes') return v >= 1e6 ? `${(v / 1e6).toFixed(2)} MB` : v >= 1e4 ? `${(v / 1e3).toFixed(1)} kB` : `${Math.round(v)} B`;
  const digits = unit === 'ms' ? (v < 10 ? 1 : 0) : v < 10 ? 1 : 0;
  return `${v.toFixed(digits)} ${unit}`;
}

function ratioOf(r: ScenarioResult): number | undefined {
  if (!r.reference || r.reference.length === 0) return undefined;
  return summarize(r.ours).median / summarize(r.reference).median;
}

export function renderTable(results: ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'ours median (min–max)', 'reference median (min–max)', 'ours/ref', 'goal', 'met']];
  for (const r of results) {
    const o = summarize(r.ours);
    const ref = r.reference && r.reference.length ? summarize(r.reference) : undefined;
    const ratio = ratioOf(r);
    rows.push([
      r.label,
      `${fmt(o.median, r.unit)} (${fmt(o.min, r.unit)}–${fmt(o.max, r.unit)})`,
      ref ? `${fmt(ref.median, r.unit)} (${fmt(ref.min, r.unit)}–${fmt(ref.max, r.unit)})` : '—',
      ratio === undefined ? '—' : ratio < 0.01 ? ratio.toPrecision(2) : ratio.toFixed(2),
      r.goal,
      r.met === null ? '—' : r.met ? 'yes' : 'NO',
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]): string => `| ${row.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

export function toJson(results: ScenarioResult[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const r of results) {
    const k = UNIT_KEY[r.unit];
    const o = summarize(r.ours);
    const entry: Record<string, unknown> = { [`ours_${k}`]: o.median, [`ours_${k}_min`]: o.min, [`ours_${k}_max`]: o.max };
    if (r.reference && r.reference.length) {
      const ref = summarize(r.reference);
      Object.assign(entry, { [`reference_${k}`]: ref.median, [`reference_${k}_min`]: ref.min, [`reference_${k}_max`]: ref.max });
    }
    entry.ratio = ratioOf(r) ?? null;
    entry.runs = r.ours.length;
    entry.goal = r.goal;
    entry.met = r.met;
    Object.assign(entry, r.extra ?? {});
    out[r.key] = entry;
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cfg: BenchConfig = { quick: args.quick, reps: args.reps ?? (args.quick ? 1 : 5), log: (l) => console.log(l) };
  const names = args.only ?? Object.keys(SCENARIOS);
  const t0 = Date.now();
  const loadBefore = os.loadavg();
  console.log(
    `kgpu bench${args.quick ? ' --quick' : ''}: ${names.join(', ')}; ${cfg.reps} repetition(s) after a warm-up; ${os.cpus().length} CPU(s), Node ${process.version}`,
  );
  const env = await startBenchEnv();
  // Stopped (Ctrl-C, or a test that gave up on us): the simulator process goes too.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`kgpu bench: ${sig}, stopping the simulator`);
      void env.close().finally(() => process.exit(130));
    });
  }
  const results: ScenarioResult[] = [];
  const failures: string[] = [];
  try {
    for (const name of names) {
      const ts = Date.now();
      try {
        const rs = await SCENARIOS[name](env, cfg);
        results.push(...rs);
        console.log(`  ${name}: done in ${((Date.now() - ts) / 1000).toFixed(1)} s`);
      } catch (e) {
        failures.push(`${name}: ${(e as Error).stack ?? String(e)}`);
        console.error(`  ${name}: FAILED: ${(e as Error).message}`);
      }
    }
  } finally {
    await env.close();
  }
  console.log('');
  console.log(renderTable(results));
  const la = (v: number[]): string => v.map((x) => x.toFixed(1)).join(' ');
  console.log(
    `load average before ${la(loadBefore)}, after ${la(os.loadavg())} (${os.cpus().length} CPUs: above ~${os.cpus().length} other work was competing)`,
  );
  const json = {
    _meta: {
      when: new Date().toISOString(),
      quick: args.quick,
      reps: cfg.reps,
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? '',
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      seconds: (Date.now() - t0) / 1000,
      loadavg_before: loadBefore.map((v) => Number(v.toFixed(2))),
      loadavg_after: os.loadavg().map((v) => Number(v.toFixed(2))),
      setup: 'loopback simulator in its own process; reference = OpenSSH ssh/scp -O/sftp -s',
    },
    ...toJson(results),
  };
  fs.writeFileSync(args.out, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), args.out) || args.out} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  if (failures.length) {
    console.error(`\n${failures.length} scenario(s) failed:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(`kgpu bench: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});

/**
 * `npm run bench [-- --quick] [--only a,b] [--reps N] [--out FILE]`: our code against the manual
 * workflow's real OpenSSH clients, side by side in one run, on a simulator this process starts.
 * Prints a table (median, min, max, ratio ours/reference) and writes bench-results.json:
 *   { <scenario>: { ours_ms|ours_mbps|ours_bytes|…, reference_…, ratio, runs, goal, met, … } }
 * `--profiles all|loopback,cross-country,…` runs the scenarios (default: PROFILE_SCENARIOS) once
 * per emulated link (links/profiles.ts), the simulator behind the link, and prints one table per
 * profile; the json is then { _meta, profiles: { <profile>: { _link, <scenario>: {…} } } }.
 * `--link-method proxy` forces the user-space link (no namespaces); `--transfer-mb N` sizes the copies.
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
import { benchFollowLatency } from './follow-latency';
import { benchOpensshBulk } from './openssh-bulk';
import { benchForwardOpen } from './forward-open';
import { parseProfiles, type LinkProfile } from './links/profiles';
import { openLink, type Link } from './links/link';

type Scenario = (env: BenchEnv, cfg: BenchConfig) => Promise<ScenarioResult[]>;
const SCENARIOS: Record<string, Scenario> = {
  iteration: benchIteration,
  transfer: benchTransfer,
  listing: benchListing,
  sync: benchSync,
  follow: benchLogFollow,
  'follow-latency': benchFollowLatency,
  'openssh-bulk': benchOpensshBulk,
  'forward-open': benchForwardOpen,
  activation: benchActivation,
  agent: benchAgent,
  warm: benchWarmStart,
  notebook: benchNotebook,
  debug: benchDebug,
  sweep: benchSweep,
};

/** Run only when named (--only) or, for follow-latency, by --profiles: not in the plain run. */
const OPT_IN = ['follow-latency', 'openssh-bulk', 'forward-open'];
/** What `--profiles` runs unless --only says otherwise: what a link changes (iteration with the plain
 *  and the PyTorch sample — `warm`: warm, cold and manual —; the notebook's cell round trip and the
 *  debugger's step cross it too). */
const PROFILE_SCENARIOS = ['iteration', 'warm', 'transfer', 'listing', 'sync', 'follow-latency', 'notebook', 'debug'];

interface Args {
  quick: boolean;
  reps?: number;
  only?: string[];
  out: string;
  profiles?: LinkProfile[];
  linkMethod: 'auto' | 'proxy';
  transferMb?: number;
}

function parseArgs(argv: string[]): Args {
  let quick = false;
  let profiles: LinkProfile[] | undefined;
  let linkMethod: 'auto' | 'proxy' = 'auto';
  let transferMb: number | undefined;
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
    else if (a === '--profiles') profiles = parseProfiles(val());
    else if (a === '--transfer-mb') transferMb = Number(val());
    else if (a === '--link-method') {
      const m = val();
      if (m !== 'auto' && m !== 'proxy') throw new Error('--link-method is auto or proxy');
      linkMethod = m;
    } else
      throw new Error(
        `unknown option ${a}; usage: npm run bench -- [--quick] [--reps N] [--only ${Object.keys(SCENARIOS).join(',')}] [--out FILE] ` +
          '[--profiles all|loopback,same-region,cross-country,intercontinental] [--link-method auto|proxy] [--transfer-mb N]',
      );
  }
  if (transferMb !== undefined && !(transferMb > 0)) throw new Error('--transfer-mb needs a number > 0');
  for (const o of only ?? []) if (!SCENARIOS[o]) throw new Error(`unknown scenario ${o} (have ${Object.keys(SCENARIOS).join(', ')})`);
  if (reps !== undefined && !(Number.isInteger(reps) && reps >= 1)) throw new Error('--reps needs a whole number ≥ 1');
  return { quick, reps, only, out, profiles, linkMethod, transferMb };
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

export function renderTable(results: ScenarioResult[], link?: string): string {
  const rows: string[][] = [
    ['scenario', 'ours median (min–max)', 'reference median (min–max)', 'ours/ref', 'goal', 'met', ...(link ? ['link'] : [])],
  ];
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
      ...(link ? [link] : []),
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

const la = (v: number[]): string => v.map((x) => x.toFixed(1)).join(' ');
const machine = (): string => `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${la(os.loadavg())}`;

/** Run `names` on `env`; failures are collected, not thrown. */
async function runScenarios(names: string[], env: BenchEnv, cfg: BenchConfig, failures: string[]): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const name of names) {
    const ts = Date.now();
    try {
      const rs = await SCENARIOS[name](env, cfg);
      results.push(...rs);
      console.log(`  ${name}: done in ${((Date.now() - ts) / 1000).toFixed(1)} s`);
    } catch (e) {
      failures.push(`${cfg.profile ? `${cfg.profile.name}/` : ''}${name}: ${(e as Error).stack ?? String(e)}`);
      console.error(`  ${name}: FAILED: ${(e as Error).message}`);
    }
  }
  return results;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cfg: BenchConfig = {
    quick: args.quick,
    reps: args.reps ?? (args.quick ? 1 : 5),
    log: (l) => console.log(l),
    transferMb: args.transferMb,
  };
  const names = args.only ?? (args.profiles ? PROFILE_SCENARIOS : Object.keys(SCENARIOS).filter((n) => !OPT_IN.includes(n)));
  const t0 = Date.now();
  const loadBefore = os.loadavg();
  console.log(
    `kgpu bench${args.quick ? ' --quick' : ''}: ${names.join(', ')}; ${cfg.reps} repetition(s) after a warm-up; ${os.cpus().length} CPU(s), Node ${process.version}` +
      (args.profiles ? `; profiles ${args.profiles.map((p) => p.name).join(', ')}` : ''),
  );
  // What is open now (the env, the link), closed on Ctrl-C or a test that gave up on us.
  let closeCurrent: (() => Promise<void>) | undefined;
  // Ctrl-C reaches us twice (the terminal's process group, and bench.mjs passing it on): a second
  // signal must not kill us in the middle of removing the link.
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      console.error(`kgpu bench: ${sig}, stopping the simulator${args.profiles ? ' and removing the emulated link' : ''}`);
      void (closeCurrent?.() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const failures: string[] = [];
  const meta = (): Record<string, unknown> => ({
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
  });
  let json: Record<string, unknown>;
  if (!args.profiles) {
    const env = await startBenchEnv();
    closeCurrent = () => env.close();
    let results: ScenarioResult[];
    try {
      results = await runScenarios(names, env, cfg, failures);
    } finally {
      await env.close();
    }
    console.log('');
    console.log(renderTable(results));
    console.log(
      `load average before ${la(loadBefore)}, after ${la(os.loadavg())} (${os.cpus().length} CPUs: above ~${os.cpus().length} other work was competing)`,
    );
    json = {
      _meta: { ...meta(), setup: 'loopback simulator in its own process; reference = OpenSSH ssh/scp -O/sftp -s' },
      ...toJson(results),
    };
  } else {
    const profiles: Record<string, unknown> = {};
    const tables: string[] = [];
    for (const profile of args.profiles) {
      const pLoad = os.loadavg();
      console.log(`\n▶ profile ${profile.name}: ${profile.describe}`);
      let link: Link | undefined;
      let env: BenchEnv | undefined;
      closeCurrent = async () => {
        await env?.close();
        await link?.close();
      };
      let results: ScenarioResult[] = [];
      try {
        link = await openLink(profile, { method: args.linkMethod });
        console.log(`  link: ${link.describe}`);
        env = await startBenchEnv(profile.name === 'loopback' ? undefined : link);
        results = await runScenarios(names, env, { ...cfg, profile }, failures);
      } catch (e) {
        failures.push(`${profile.name}: ${(e as Error).stack ?? String(e)}`);
        console.error(`  ${profile.name}: FAILED: ${(e as Error).message}`);
      } finally {
        await closeCurrent();
        closeCurrent = undefined;
      }
      const header =
        `profile ${profile.describe} — link: ${link?.describe ?? 'not set up'}\n` +
        `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average before ${la(pLoad)}, after ${la(os.loadavg())}`;
      const table = `${header}\n${renderTable(results, link?.method ?? '—')}`;
      tables.push(table);
      console.log(`\n${table}`);
      const rows = toJson(results);
      for (const row of Object.values(rows)) Object.assign(row, { profile: profile.name, link_method: link?.method ?? null });
      profiles[profile.name] = {
        _link: {
          rtt_ms: profile.rttMs,
          rate_mbit: profile.rateMbit,
          method: link?.method ?? null,
          describe: link?.describe ?? null,
          fallback_reason: link?.fallbackReason ?? null,
          loadavg_before: pLoad.map((v) => Number(v.toFixed(2))),
          loadavg_after: os.loadavg().map((v) => Number(v.toFixed(2))),
        },
        ...rows,
      };
    }
    console.log(`\n── all profiles ──\n${tables.join('\n\n')}\n\nmachine now: ${machine()}`);
    json = {
      _meta: {
        ...meta(),
        setup: 'simulator behind an emulated link per profile; reference = OpenSSH ssh/scp -O/sftp -s across the same link',
      },
      profiles,
    };
  }
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

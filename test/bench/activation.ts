/**
 * Scenario 6 — activation time and VSIX size.
 *   time: the production bundle (esbuild --production options, built into a temp dir) required and
 *         activate()d in a fresh Node process each run (activation-harness.ts, `vscode` answered by
 *         the fake module), timed inside that process from require() to activate()'s return.
 *   size: `vsce package --no-dependencies` of a copy of the extension with that bundle (as
 *         test/unit/extension/package.test.ts does).
 * No reference for either.
 */
import { cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { repoRoot, type BenchEnv } from './env';
import { runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';
import { buildSplitBundle } from './split-bundle';

const EXTERNAL = ['vscode', 'cpu-features', '*.node', './crypto/build/Release/sshcrypto.node'];

export async function benchActivation(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const dir = path.join(env.tmp, 'activation');
  mkdirSync(path.join(dir, 'dist'), { recursive: true });
  const bundle = path.join(dir, 'dist', 'extension.js');
  await esbuild.build({
    entryPoints: [path.join(repoRoot, 'src', 'extension.ts')], outfile: bundle,
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', minify: true, sourcemap: false, legalComments: 'none', logLevel: 'silent',
    external: EXTERNAL,
  });
  const harness = path.join(env.tmp, 'activation-harness.js');
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'activation-harness.ts')], outfile: harness,
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'silent',
  });

  const splitDist = path.join(env.tmp, 'activation-split', 'dist');
  await buildSplitBundle(splitDist);
  const splitBundle = path.join(splitDist, 'extension.js');

  const runs = cfg.quick ? 2 : 15;
  const total: number[] = [];
  const req: number[] = [];
  const act: number[] = [];
  const split: number[] = [];
  let commands = 0;
  let splitCommands = 0;
  const once = async (b: string): Promise<{ requireMs: number; activateMs: number; totalMs: number; commands: number }> => {
    const r = await runTool(process.execPath, [harness, b]);
    const m = JSON.parse(r.stdout.toString('utf8').trim()) as { requireMs: number; activateMs: number; totalMs: number; commands: number };
    if (m.commands === 0) throw new Error(`bench activation: activate() of ${b} registered no command`);
    return m;
  };
  for (let i = -1; i < runs; i++) {
    const m = await once(bundle);
    const s = await once(splitBundle);
    commands = m.commands;
    splitCommands = s.commands;
    if (i < 0) continue; // warm-up (disk cache)
    total.push(m.totalMs);
    req.push(m.requireMs);
    act.push(m.activateMs);
    split.push(s.totalMs);
  }
  if (splitCommands !== commands) throw new Error(`bench activation: the split bundle registered ${splitCommands} commands, the shipped one ${commands}`);

  // VSIX.
  for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', '.vscodeignore', 'media']) {
    if (existsSync(path.join(repoRoot, f))) cpSync(path.join(repoRoot, f), path.join(dir, f), { recursive: true });
  }
  const vsix = path.join(env.tmp, 'kgpu-bench.vsix');
  await runTool(process.execPath, [path.join(repoRoot, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--out', vsix], { cwd: dir });
  const vsixKb = statSync(vsix).size / 1024;
  const bundleKb = statSync(bundle).size / 1024;

  const med = summarize(total).median;
  return [
    {
      key: 'activation',
      label: '6. activation: require bundle + activate()',
      unit: 'ms',
      ours: total,
      goal: '< 30 ms',
      met: med < 30,
      extra: { require_ms: summarize(req).median, activate_ms: summarize(act).median, commands_registered: commands, measure: 'fresh node process per run; fake vscode module; production bundle' },
    },
    {
      key: 'activation_split',
      label: '6. activation, prototype: undici + ssh2 loaded on first use',
      unit: 'ms',
      ours: split,
      goal: '< 30 ms',
      met: summarize(split).median < 30,
      extra: { prototype: 'test/bench/split-bundle.ts (not the shipped build): dist/undici.js + dist/ssh2.js required on first use', main_bundle_kb: statSync(splitBundle).size / 1024, commands_registered: splitCommands },
    },
    {
      key: 'vsix_size',
      label: '6. VSIX size',
      unit: 'KB',
      ours: [vsixKb],
      goal: '< 500 KB',
      met: vsixKb < 500,
      extra: { bundle_kb: bundleKb, vsix_bytes: Math.round(vsixKb * 1024) },
    },
  ];
}

/**
 * Scenario 6 — activation time and VSIX size.
 *   time: the production build of esbuild.mjs (dist/extension.js + dist/vendor-*.js, built into a
 *         temp dir with the options `npm run package` ships) required and activate()d in a fresh
 *         Node process each run (activation-harness.ts, `vscode` answered by the fake module),
 *         timed inside that process from require() to activate()'s return. A vendor file loaded in
 *         that window (undici, ssh2 belong to first use) fails the scenario.
 *   size: `vsce package --no-dependencies` of a copy of the extension with that build (as
 *         test/unit/extension/package.test.ts does).
 * No reference for either.
 */
import { cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { buildExtension, extensionOutputFiles } from '../unit/extension/extension-build';
import { repoRoot, type BenchEnv } from './env';
import { runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

interface HarnessResult {
  requireMs: number;
  activateMs: number;
  totalMs: number;
  commands: number;
  vendorLoaded: string[];
}

export async function benchActivation(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const dir = path.join(env.tmp, 'activation');
  const dist = path.join(dir, 'dist');
  mkdirSync(dist, { recursive: true });
  await buildExtension({ production: true, outdir: dist, logLevel: 'silent' });
  const bundle = path.join(dist, 'extension.js');
  const harness = path.join(env.tmp, 'activation-harness.js');
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'activation-harness.ts')],
    outfile: harness,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
  });

  const runs = cfg.quick ? 2 : 15;
  const total: number[] = [];
  const req: number[] = [];
  const act: number[] = [];
  let commands = 0;
  for (let i = -1; i < runs; i++) {
    const r = await runTool(process.execPath, [harness, bundle]);
    const m = JSON.parse(r.stdout.toString('utf8').trim()) as HarnessResult;
    if (m.commands === 0) throw new Error(`bench activation: activate() of ${bundle} registered no command`);
    if (m.vendorLoaded.length > 0)
      throw new Error(
        `bench activation: require + activate() loaded ${m.vendorLoaded.join(', ')} (heavy dependencies belong to first use: src/platform/lazy/)`,
      );
    commands = m.commands;
    if (i < 0) continue; // warm-up (disk cache)
    total.push(m.totalMs);
    req.push(m.requireMs);
    act.push(m.activateMs);
  }

  // VSIX.
  for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', '.vscodeignore', 'media']) {
    if (existsSync(path.join(repoRoot, f))) cpSync(path.join(repoRoot, f), path.join(dir, f), { recursive: true });
  }
  const vsix = path.join(env.tmp, 'kgpu-bench.vsix');
  await runTool(
    process.execPath,
    [path.join(repoRoot, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--out', vsix],
    { cwd: dir },
  );
  const vsixKb = statSync(vsix).size / 1024;
  const filesKb = Object.fromEntries((await extensionOutputFiles()).map((f) => [f, Math.round(statSync(path.join(dist, f)).size / 1024)]));

  const med = summarize(total).median;
  return [
    {
      key: 'activation',
      label: '6. activation: require bundle + activate()',
      unit: 'ms',
      ours: total,
      goal: '< 30 ms',
      met: med < 30,
      extra: {
        require_ms: summarize(req).median,
        activate_ms: summarize(act).median,
        commands_registered: commands,
        dist_kb: filesKb,
        measure:
          'fresh node process per run; fake vscode module; production build (esbuild.mjs: undici and ssh2 in dist/vendor-*.js, loaded on first use)',
      },
    },
    {
      key: 'vsix_size',
      label: '6. VSIX size',
      unit: 'KB',
      ours: [vsixKb],
      goal: '< 640 KB',
      met: vsixKb < 640,
      extra: { bundle_kb: statSync(bundle).size / 1024, vsix_bytes: Math.round(vsixKb * 1024) },
    },
  ];
}

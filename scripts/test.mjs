// `npm test`: type-check, build, run every node test (library, simulator, extension logic) with
// Node's test runner, then the tests inside a real VS Code (code-server) — and print one summary.
//   --unit     only the node tests (no code-server)
//   --e2e      only the code-server tests
//   -- FILES   only these node test files (files, folders or globs)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureSystemDeps } from './system-deps.mjs';
import { expandTestArgs, findTests, nodeTestCommand, root } from './node-tests.mjs';

process.chdir(root);
const args = process.argv.slice(2);
const only = args.includes('--') ? args.slice(args.indexOf('--') + 1) : [];
const unitOnly = args.includes('--unit') || only.length > 0;
const e2eOnly = args.includes('--e2e');

function run(label, cmd, cmdArgs, opts = {}) {
  console.log(`\n▶ ${label}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

ensureSystemDeps();
const results = [];
let nodePassed = 0,
  nodeFailed = 0,
  e2ePassed = 0,
  e2eFailed = 0;
const step = (name, status) => {
  results.push({ name, ok: status === 0 });
  return status === 0;
};

if (!step('lint (tsc --noEmit)', run('lint: tsc --noEmit', 'npx', ['tsc', '-p', '.', '--noEmit']))) finish();
if (!step('lint (eslint)', run('lint: eslint', 'npx', ['eslint', '.']))) finish();
if (
  !step(
    'format (prettier --check)',
    run('format: prettier --check (npm run format fixes it)', 'npx', ['prettier', '--check', '--log-level', 'warn', '.']),
  )
)
  finish();
if (!step('build (esbuild)', run('build: esbuild', 'node', ['esbuild.mjs']))) finish();

if (!e2eOnly) {
  const files = only.length ? expandTestArgs(only) : findTests('test');
  console.log(`\n▶ node tests: ${files.length} files`);
  const node = nodeTestCommand(files);
  const r = spawnSync(node.cmd, node.args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: node.env,
  });
  process.stdout.write(r.stdout);
  nodePassed = Number(/ℹ pass (\d+)/.exec(r.stdout)?.[1] ?? 0);
  nodeFailed = Number(/ℹ fail (\d+)/.exec(r.stdout)?.[1] ?? 0);
  step('node tests', r.status ?? 1);
}

if (!unitOnly && existsSync('test/e2e/run.mjs')) {
  console.log('\n▶ VS Code tests (code-server): integration suite, UI journeys, demo --check');
  // Streamed (the run takes a while) and kept, for its `e2e: N passed, M failed` line.
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['test/e2e/run.mjs'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      process.stdout.write(d);
    });
    child.on('close', (status) => resolve({ status, stdout }));
  });
  e2ePassed = Number(/e2e: (\d+) passed/.exec(r.stdout)?.[1] ?? 0);
  e2eFailed = Number(/e2e: \d+ passed, (\d+) failed/.exec(r.stdout)?.[1] ?? 0);
  step('VS Code tests (code-server)', r.status ?? 1);
}
finish();

function finish() {
  console.log('\n── summary ──');
  for (const r of results) console.log(`${r.ok ? '✔' : '✖'} ${r.name}`);
  const failedSteps = results.filter((r) => !r.ok).length;
  const passed = nodePassed + e2ePassed;
  const failed = nodeFailed + e2eFailed + (failedSteps && nodeFailed + e2eFailed === 0 ? failedSteps : 0);
  console.log(`kgpu: ${passed} passed, ${failed} failed`);
  process.exit(failedSteps ? 1 : 0);
}

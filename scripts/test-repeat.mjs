// `npm run test:repeat -- --times 10 --files test/unit/reliability 'test/unit/kgpu/workspace-fs-*'`:
// run the chosen node tests (files, folders, globs; default: all of test/) N times, the way
// `npm test` runs them (scripts/node-tests.mjs), and print each file's failure rate with the tests
// that failed. The full spec output of every run with a failure is kept in a log file. A run still
// going after --run-timeout seconds (default 900) is stopped: the files still running count as hung.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensureSystemDeps } from './system-deps.mjs';
import { expandTestArgs, findTests, nodeTestCommand, root } from './node-tests.mjs';

const argv = process.argv.slice(2);
let times = 10;
let runTimeoutS = 900;
const patterns = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--times') times = Number(argv[++i]);
  else if (argv[i] === '--run-timeout') runTimeoutS = Number(argv[++i]);
  else if (argv[i] !== '--files') patterns.push(argv[i]);
}
if (!Number.isInteger(times) || times < 1 || !(runTimeoutS > 0)) {
  console.error('usage: npm run test:repeat -- [--times N] [--run-timeout SECONDS] [--files] FILE|FOLDER|GLOB…');
  process.exit(2);
}
process.chdir(root);
ensureSystemDeps();
// As npm test: some tests load the bundle (dist/extension.js).
if (spawnSync(process.execPath, ['esbuild.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);
const files = patterns.length ? expandTestArgs(patterns) : findTests('test');
const logDir = mkdtempSync(join(tmpdir(), 'kgpu-test-repeat-'));
const stats = new Map(files.map((f) => [f, { runs: 0, failures: 0, tests: new Map() }]));
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`test:repeat: ${files.length} files × ${times} runs (2 files at a time, as npm test); load average ${load()}`);

let failedRuns = 0;
let current; // the running test run's process group, stopped with us (Ctrl-C)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current) process.kill(-current, 'SIGKILL');
    process.exit(130);
  });
}
for (let run = 1; run <= times; run++) {
  const t0 = Date.now();
  const log = join(logDir, `run-${run}.log`);
  const reporters = [
    `--test-reporter=${join(root, 'scripts', 'test-repeat-reporter.mjs')}`,
    '--test-reporter-destination=stdout',
    '--test-reporter=spec',
    `--test-reporter-destination=${log}`,
  ];
  const node = nodeTestCommand(files, reporters);
  const { lines, hung } = await new Promise((resolve) => {
    // Its own process group, so that a hung run can be stopped with everything it started.
    const child = spawn(node.cmd, node.args, { env: node.env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    current = child.pid;
    let out = '';
    let hung = [];
    child.stdout.on('data', (b) => (out += b));
    const timer = setTimeout(() => {
      hung = runningTestFiles(child.pid);
      process.kill(-child.pid, 'SIGKILL');
    }, runTimeoutS * 1000);
    child.on('close', () => {
      current = undefined;
      clearTimeout(timer);
      resolve({ lines: out.split('\n').filter((l) => l.startsWith('{')), hung });
    });
  });
  for (const file of hung)
    lines.push(JSON.stringify({ file: join(root, file), name: `(hung: still running after ${runTimeoutS} s)`, ok: false }));
  const failedHere = new Set();
  for (const line of lines) {
    const r = JSON.parse(line);
    const s = stats.get(relative(root, r.file ?? ''));
    if (!s || r.ok) continue;
    failedHere.add(s);
    const name = r.name === r.file ? '(the file itself: crashed or exited early)' : r.name;
    s.tests.set(name, (s.tests.get(name) ?? 0) + 1);
  }
  for (const s of stats.values()) {
    s.runs++;
    if (failedHere.has(s)) s.failures++;
  }
  if (failedHere.size) failedRuns++;
  else rmSync(log);
  const failing = files.filter((f) => failedHere.has(stats.get(f)));
  console.log(
    `run ${run}/${times}: ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${load()}, ${failing.length ? `FAILED ${failing.join(' ')} (log: ${log})` : 'all passed'}`,
  );
}

/** The test files the runner `pid` still has a child process for (Linux /proc). */
function runningTestFiles(pid) {
  const found = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const ppid = readFileSync(`/proc/${p}/stat`, 'utf8')
        .replace(/^.*\) \S+ /, '')
        .split(' ')[0];
      if (Number(ppid) !== pid) continue;
      const file = readFileSync(`/proc/${p}/cmdline`, 'utf8')
        .split('\0')
        .find((a) => a.endsWith('.test.ts'));
      if (file) found.push(relative(root, file));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

const width = Math.max(...files.map((f) => f.length), 4);
console.log(`\n${'file'.padEnd(width)}  runs  failed   rate  failing tests`);
for (const [file, s] of stats) {
  const tests = [...s.tests].map(([n, c]) => `${n} (${c}×)`).join('; ');
  console.log(
    `${file.padEnd(width)}  ${String(s.runs).padStart(4)}  ${String(s.failures).padStart(6)}  ${`${Math.round((100 * s.failures) / s.runs)}%`.padStart(5)}  ${tests}`,
  );
}
console.log(`\n${failedRuns} of ${times} runs had a failure${failedRuns ? `; logs in ${logDir}` : ''}`);
if (!failedRuns) rmSync(logDir, { recursive: true, force: true });
process.exit(failedRuns ? 1 : 0);

// Entry point the extension host calls (extensionTestsPath): runs every compiled *.test.js next to
// this file with mocha (BDD: describe/it/before/after) inside the real VS Code extension host.
// Works the same under code-server (test/e2e/run.mjs) and @vscode/test-electron (run-electron.mjs).
//
// Environment (set by the runners through extensionEnvironment / extensionTestsEnv):
//   KGPU_E2E_RESULTS  file to write {"passed","failed","pending","failures"} to (the runner counts from it)
//   KGPU_E2E_GREP     only tests whose full title matches this regular expression
//   KGPU_API_BASE, KGPU_API_TOKEN, KGPU_SSH_HOST, KGPU_SSH_PORT   the simulator (absent: sim tests are skipped)
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

interface Failure {
  title: string;
  error: string;
}

const say = (line: string): void => console.log(`[kgpu-e2e] ${line}`);

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 30_000, reporter: 'base' });
  if (process.env.KGPU_E2E_GREP) mocha.grep(new RegExp(process.env.KGPU_E2E_GREP));
  for (const file of readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort()) {
    mocha.addFile(join(__dirname, file));
  }

  const failures: Failure[] = [];
  let passed = 0;
  let pending = 0;
  return new Promise((resolve, reject) => {
    let runner: Mocha.Runner;
    try {
      runner = mocha.run((failed) => {
        const results = { passed, failed, pending, failures };
        say(`${passed} passing, ${failed} failing, ${pending} pending`);
        if (process.env.KGPU_E2E_RESULTS) writeFileSync(process.env.KGPU_E2E_RESULTS, JSON.stringify(results, null, 2));
        if (failed > 0) reject(new Error(`${failed} integration test(s) failed`));
        else resolve();
      });
    } catch (e) {
      // A test file that throws while loading: report it as a failure rather than hanging.
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      say(`✖ loading the suite failed: ${error}`);
      if (process.env.KGPU_E2E_RESULTS) {
        writeFileSync(
          process.env.KGPU_E2E_RESULTS,
          JSON.stringify({ passed: 0, failed: 1, pending: 0, failures: [{ title: 'loading the suite', error }] }),
        );
      }
      reject(e instanceof Error ? e : new Error(error));
      return;
    }
    runner.on('suite', (s) => {
      if (s.title) say(`${'  '.repeat(depth(s) - 1)}${s.title}`);
    });
    runner.on('pass', (t) => {
      passed++;
      say(`${'  '.repeat(depth(t))}✔ ${t.title} (${t.duration ?? 0} ms)`);
    });
    runner.on('pending', (t) => {
      pending++;
      say(`${'  '.repeat(depth(t))}- ${t.title} (skipped${skipReason(t)})`);
    });
    runner.on('fail', (t, err: Error) => {
      const title = t.fullTitle();
      const error = err.stack ?? err.message;
      failures.push({ title, error });
      say(
        `${'  '.repeat(depth(t))}✖ ${t.title}\n${error
          .split('\n')
          .map((l) => `[kgpu-e2e]       ${l}`)
          .join('\n')}`,
      );
    });
  });
}

function depth(r: Mocha.Runnable | Mocha.Suite): number {
  let d = 0;
  for (let p = r.parent; p; p = p.parent) if (p.title) d++;
  return r instanceof Mocha.Suite ? d + 1 : d;
}

function skipReason(t: Mocha.Test): string {
  const reason = (t.parent as (Mocha.Suite & { kgpuSkipReason?: string }) | undefined)?.kgpuSkipReason;
  return reason ? `: ${reason}` : '';
}

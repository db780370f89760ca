// `npm run bench [-- --quick] [--only iteration,transfer,listing,sync,follow,activation,agent] [--reps N] [--out FILE]`:
// our code against the real OpenSSH clients on a loopback simulator (test/bench/main.ts under tsx).
// `--profiles all|loopback,same-region,cross-country,intercontinental` runs them across emulated links
// (test/bench/links/; netns + tbf as root, a user-space delay line otherwise), one table per profile.
// Slow (minutes); not part of `npm test` — test/unit/bench/bench-smoke.test.ts runs `--quick`.
import { spawn } from 'node:child_process';
import { ensureSystemDeps } from './system-deps.mjs';

ensureSystemDeps();
const root = new URL('..', import.meta.url).pathname;
const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', `${root}test/bench/main.ts`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

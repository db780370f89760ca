// `npm run sim -- [--port N] [--env-file PATH] …`: the kgpu simulator (test/sim/cli.ts) under tsx.
// Node 20 reads `--env-file` anywhere in argv as its own flag (nodejs/node#54232), so our flags
// travel behind a `--` (package.json's "sim" script adds one; so do we for the child).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ensureSystemDeps } from './system-deps.mjs';

ensureSystemDeps();
const root = new URL('..', import.meta.url).pathname;
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const args = process.argv.slice(2);
if (args[0] === '--') args.shift();
const child = spawn(process.execPath, ['--import', tsx, `${root}test/sim/cli.ts`, '--', ...args], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

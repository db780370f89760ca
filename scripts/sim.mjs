// `npm run sim -- [--port N] [--env-file PATH] …`: the kgpu simulator (test/sim/cli.ts) under tsx.
import { spawn } from 'node:child_process';
import { ensureSystemDeps } from './system-deps.mjs';

ensureSystemDeps();
const root = new URL('..', import.meta.url).pathname;
const child = spawn(process.execPath, ['--import', 'tsx', `${root}test/sim/cli.ts`, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

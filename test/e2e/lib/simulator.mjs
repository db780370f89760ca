// The kgpu simulator as a separate process (`node scripts/sim.mjs`, i.e. test/sim/cli.ts), which
// writes `export KGPU_API_BASE=… KGPU_API_TOKEN=… KGPU_SSH_HOST=… KGPU_SSH_PORT=…` to --env-file
// once it is ready. Everything the extension needs to find it travels in those variables.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGroup, waitFor } from './processes.mjs';

const root = new URL('../../..', import.meta.url).pathname.replace(/\/$/, '');
export const SIM_CLI = join(root, 'test', 'sim', 'cli.ts');
export const SIM_ENV_KEYS = ['KGPU_API_BASE', 'KGPU_API_TOKEN', 'KGPU_SSH_HOST', 'KGPU_SSH_PORT'];

export function simulatorAvailable() {
  return existsSync(SIM_CLI);
}

/** CLI flags for simulator options the demo sets (trial credits of the simulated account). */
export function simulatorOptions({ credits }) {
  return credits ? ['--credits', String(credits)] : [];
}

/** Parses `export K=V …` lines (values bare, 'single' or "double" quoted). */
export function parseEnvFile(text) {
  const env = {};
  for (const m of text.matchAll(/\b(KGPU_[A-Z0-9_]+)=(?:'([^']*)'|"([^"]*)"|([^\s'"]+))/g)) {
    env[m[1]] = m[2] ?? m[3] ?? m[4];
  }
  return env;
}

/**
 * Starts a simulator; resolves once its env file names all of SIM_ENV_KEYS.
 * @param {{ dir: string, coldStartMs?: number, args?: string[], timeoutMs?: number, name?: string }} o
 * @returns {Promise<{ env: Record<string,string>, pid: number, stop: () => Promise<void>, logTail: (n?: number) => string }>}
 */
export async function startSimulator({ dir, coldStartMs = 300, args = [], timeoutMs = 30_000, name = 'sim' }) {
  const envFile = join(dir, `${name}.env`);
  // Node 20 parses `--env-file X` even after the script name and exits 9 when X does not exist:
  // create it empty first (the simulator overwrites it when ready).
  writeFileSync(envFile, '');
  const proc = startGroup(
    process.execPath,
    [join(root, 'scripts', 'sim.mjs'), '--env-file', envFile, '--cold-start-ms', String(coldStartMs), ...args],
    {
      cwd: root,
      logFile: join(dir, `${name}.log`),
    },
  );
  try {
    const env = await Promise.race([
      waitFor(
        () => {
          if (!existsSync(envFile)) return undefined;
          const e = parseEnvFile(readFileSync(envFile, 'utf8'));
          return SIM_ENV_KEYS.every((k) => e[k]) ? e : undefined;
        },
        { timeoutMs, what: `the simulator to write ${envFile}` },
      ),
      proc.exited.then((code) => {
        throw new Error(`the simulator exited (code ${code}) before it was ready`);
      }),
    ]);
    return { env, pid: proc.pid, stop: () => proc.stop(), logTail: (n) => proc.logTail(n) };
  } catch (e) {
    await proc.stop();
    throw new Error(`${e.message}\n--- simulator log ---\n${proc.logTail()}`);
  }
}

/**
 * `npm run sim -- [options]`: the kgpu simulator as a process (scripts/sim.mjs runs this under tsx).
 *
 *   --port N            REST port (default 0 = a free port), on 127.0.0.1
 *   --ssh-port N        SSH bastion port (default 0 = a free port)
 *   --state-dir DIR     pods' disks, objects, host key, account token (default: a temp dir removed on exit)
 *   --clock-speed N     simulated time runs N× wall time (default 1)
 *   --cold-start-ms N   simulated ms a new pod stays Pending (default 3000)
 *   --fleet FILE        GPU models/counts/prices (+ "images") as JSON (default: the contract's five)
 *   --credits N         starting balance (default 100000)
 *   --env-file PATH     once ready, write `export KGPU_API_BASE=… KGPU_API_TOKEN=… KGPU_SSH_HOST=… KGPU_SSH_PORT=…`
 *   --faults SPEC       REST faults, JSON or e.g. "fail:POST /pods:503:1,latency:GET /pods/*:500"
 *
 * SIGINT/SIGTERM end every pod and exit.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { startSimulator, type SimulatorOptions } from './index';

const USAGE =
  'usage: npm run sim -- [--port N] [--ssh-port N] [--state-dir DIR] [--clock-speed N] [--cold-start-ms N] [--fleet FILE] [--credits N] [--env-file PATH] [--faults SPEC]';

function parseArgs(argv: string[]): { options: SimulatorOptions; envFile?: string } {
  const options: SimulatorOptions = { coldStartMs: 3000, clockSpeed: 1 };
  let envFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    const num = (min: number): number => {
      const s = value();
      const n = Number(s);
      if (s.trim() === '' || !Number.isFinite(n) || n < min) throw new Error(`${name} needs a number ≥ ${min}, got "${s}"`);
      return n;
    };
    switch (name) {
      case '--port':
        options.port = num(0);
        break;
      case '--ssh-port':
        options.sshPort = num(0);
        break;
      case '--state-dir':
        options.stateDir = value();
        break;
      case '--clock-speed':
        options.clockSpeed = num(0);
        break;
      case '--cold-start-ms':
        options.coldStartMs = num(0);
        break;
      case '--fleet':
        options.fleet = value();
        break;
      case '--credits':
        options.credits = num(0);
        break;
      case '--env-file':
        envFile = value();
        break;
      case '--faults':
        options.faults = value();
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return { options, envFile };
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    // A leading "--" shields our flags from Node 20, which reads --env-file anywhere in argv (nodejs/node#54232).
    parsed = parseArgs(process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')));
  } catch (e) {
    console.error(`kgpu-sim: ${(e as Error).message}`);
    process.exit(2);
  }
  const sim = await startSimulator(parsed.options);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`kgpu-sim: ${signal}: ending every pod and stopping…`);
    const force = setTimeout(() => {
      console.error('kgpu-sim: shutdown took over 15 s; exiting anyway');
      process.exit(1);
    }, 15_000);
    force.unref();
    sim.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`kgpu-sim: stopping failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));

  console.log(`kgpu simulator serving`);
  console.log(`  KGPU_API_BASE=${sim.apiBase}`);
  console.log(`  KGPU_API_TOKEN=${sim.token}   (simulator account token; reissued on every fresh state dir)`);
  console.log(`  SSH bastion: ${sim.sshHost}:${sim.sshPort}${sim.sshPort === 0 ? ' (not available: test/sim/bastion.ts is missing)' : ''}`);
  console.log(`  package index (the pods' PIP_INDEX_URL, a stand-in for PyPI): ${sim.packageIndex.url}`);
  console.log(
    `  state dir: ${sim.stateDir}   clock ×${sim.clock.speed}   pods: ${sim.runtimeKind === 'pods' ? 'namespaced (pods.ts)' : 'stand-in (no isolation)'}`,
  );
  if (parsed.envFile) {
    const text = [
      `export KGPU_API_BASE=${shq(sim.apiBase)}`,
      `export KGPU_API_TOKEN=${shq(sim.token)}`,
      `export KGPU_SSH_HOST=${shq(sim.sshHost)}`,
      `export KGPU_SSH_PORT=${shq(String(sim.sshPort))}`,
      '',
    ].join('\n');
    const tmp = `${parsed.envFile}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, parsed.envFile);
    console.log(`  env file: ${parsed.envFile}  (source it: . ${shq(parsed.envFile)})`);
  }
}

main().catch((e: unknown) => {
  console.error(`kgpu-sim: could not start: ${(e as Error).message}`);
  process.exit(1);
});

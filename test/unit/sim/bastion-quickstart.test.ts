/**
 * The contract's quick start (steps 2–5: rent, poll until ready, nvidia-smi, scp -O push, setsid
 * job, scp -O pull, release, key refused) as a bash script (test/sim/quickstart.sh) with curl, jq
 * and OpenSSH against `npm run sim` (scripts/sim.mjs) as a separate process; SIGTERM then stops it
 * with no pod process left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { waitFor } from './bastion-fixture';

const root = join(__dirname, '..', '..', '..');
let sim: ChildProcess | undefined;
let dir: string | undefined;
after(() => {
  if (sim && sim.exitCode === null && sim.signalCode === null) sim.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Host pids whose command line mentions `needle` (the sim's state dir is unique to this test). */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

it(
  'runs the contract quick start steps 2–5 incl. ssh, scp -O and a setsid job against npm run sim, which then stops cleanly',
  { timeout: 60_000 },
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'kgpu-quickstart-'));
    const envFile = join(dir, 'kgpu.env');
    const stateDir = join(dir, 'state');
    // Node 20 itself reads a `--env-file` anywhere in argv and fails when the file does not exist
    // yet; an empty file lets it through (the simulator then overwrites it once it serves).
    writeFileSync(envFile, '');
    let log = '';
    sim = spawn(
      process.execPath,
      [join(root, 'scripts', 'sim.mjs'), '--env-file', envFile, '--state-dir', stateDir, '--cold-start-ms', '300'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    sim.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    sim.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await waitFor(`the simulator's env file (log: ${log})`, () => statSync(envFile).size > 0, 30_000);
    const key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);

    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const sh = spawn('bash', ['-c', `. "$1" && exec bash "$2"`, 'qs', envFile, join(root, 'test', 'sim', 'quickstart.sh')], {
        env: { ...process.env, KEY: key, POLL: '0.2' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      sh.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      sh.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
      sh.on('close', (code) => resolve({ code, text }));
    });
    assert.equal(out.code, 0, out.text);
    assert.match(out.text, /NVIDIA-SMI .*\(simulated\)/);
    assert.match(out.text, /model\.pt ok/);
    assert.match(out.text, /released: returned; key refused/);

    const exited = new Promise<number | null>((resolve) => sim!.on('exit', (code) => resolve(code)));
    sim.kill('SIGTERM');
    assert.equal(await exited, 0, log);
    assert.deepEqual(pidsMentioning(stateDir), [], 'no pod process outlives the simulator');
    assert.equal(existsSync(join(stateDir, 'pods')) ? readdirSync(join(stateDir, 'pods')).length : 0, 0, 'no pod disk left');
  },
);

// The contract's quick start, steps 2, 3 and 5 (see, rent, poll until ready, release), run as a
// bash script with curl + jq against `npm run sim` (node scripts/sim.mjs --env-file …), then
// SIGTERM: the simulator ends every pod, leaves no process behind and removes its temp state dir.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from './rest-fixture';

const root = join(__dirname, '..', '..', '..');

const SCRIPT = String.raw`set -euo pipefail
. "$ENV_FILE"
T=$KGPU_API_TOKEN; B=$KGPU_API_BASE

# 2. See what's available (no auth needed) and rent one.
curl -sS $B/gpu-models | jq
RENT=$(curl -sS -X POST $B/pods -H "Authorization: Bearer $T" \
  -H "Content-Type: application/json" \
  -d "$(jq -n --arg p "$(cat ~/.ssh/id_ed25519.pub)" \
        '{gpu_model:"rtx4090", ssh_pubkey:$p}')" | jq -r .pod_id)
echo "RENT=$RENT"

# 3. Wait until it's ready (the contract polls every 10 s; the simulator's cold start is short).
until [ "$(curl -sS $B/pods/$RENT -H "Authorization: Bearer $T" | jq -r .ready)" = "true" ]; do
  sleep 0.2
done
echo READY

# 5. Release (the pod and its disk are destroyed).
curl -sS -X DELETE $B/pods/$RENT -H "Authorization: Bearer $T"
`;

test('quick start steps 2, 3, 5 with curl + jq against npm run sim; SIGTERM stops it cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-quickstart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'quickstart', '-f', join(home, '.ssh', 'id_ed25519')]);
  const envFile = join(dir, 'sim.env');
  // Node 20 reads `--env-file X` even after the script name and exits 9 when X is missing
  // (nodejs/node#54232): the file must exist before the simulator writes it.
  writeFileSync(envFile, '');
  const sim = spawn(process.execPath, [join(root, 'scripts', 'sim.mjs'), '--env-file', envFile, '--cold-start-ms', '800'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  sim.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  sim.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => sim.on('exit', (code) => resolve(code)));
  // On failure: stop the whole process group (scripts/sim.mjs and the simulator under it) the
  // clean way first, so that its pods end too.
  t.after(async () => {
    if (sim.exitCode !== null || sim.signalCode !== null || !sim.pid) return;
    const group = -sim.pid;
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      return;
    }
    await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000))]);
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  await waitFor(
    () => (/KGPU_SSH_PORT=/.test(readFileSync(envFile, 'utf8')) && /env file: /.test(out)) || sim.exitCode !== null,
    'the simulator to write its env file',
    20_000,
  );
  assert.equal(sim.exitCode, null, out);
  const env = readFileSync(envFile, 'utf8');
  assert.match(env, /^export KGPU_API_BASE='http:\/\/127\.0\.0\.1:\d+\/v1'$/m);
  assert.match(env, /^export KGPU_API_TOKEN='kgpu_[A-Za-z0-9]+'$/m);
  assert.match(env, /^export KGPU_SSH_HOST='127\.0\.0\.1'$/m);
  assert.match(env, /^export KGPU_SSH_PORT='\d+'$/m);
  assert.match(out, /KGPU_API_BASE=http:\/\/127\.0\.0\.1:\d+\/v1/);
  const stateDir = /state dir: (\S+)/.exec(out)?.[1];
  assert.ok(stateDir && existsSync(stateDir), out);

  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const sh = spawn('timeout', ['30', 'bash', '-c', SCRIPT], {
      env: { ...process.env, HOME: home, ENV_FILE: envFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    sh.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    sh.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    sh.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.match(r.stdout, /"gpu_model": "rtx4090"/);
  const rent = /RENT=(gpu-rent-\d+-[0-9a-f]{6})/.exec(r.stdout)?.[1];
  assert.ok(rent, r.stdout);
  assert.match(r.stdout, /READY/);
  const released = JSON.parse(r.stdout.slice(r.stdout.indexOf('READY') + 6));
  assert.equal(released.pod_id, rent);
  assert.equal(released.end_reason, 'returned');
  assert.equal(released.phase, 'Ended');

  // A pod still live at shutdown, with a detached job: SIGTERM must end it too.
  const base = /KGPU_API_BASE='([^']+)'/.exec(env)![1];
  const auth = { Authorization: `Bearer ${/KGPU_API_TOKEN='([^']+)'/.exec(env)![1]}`, 'Content-Type': 'application/json' };
  const live = (await (
    await fetch(`${base}/pods`, { method: 'POST', headers: auth, body: JSON.stringify({ gpu_model: 'v100', name: 'live' }) })
  ).json()) as { pod_id: string };
  let ready = false;
  const deadline = Date.now() + 20_000;
  while (!ready && Date.now() < deadline) {
    ready = ((await (await fetch(`${base}/pods/${live.pod_id}`, { headers: auth })).json()) as { ready: boolean }).ready;
    if (!ready) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(ready, 'the second pod became ready');
  const marker = String(900_000 + Math.floor(Math.random() * 99_999));
  const job = await fetch(`${base}/pods/${live.pod_id}/exec`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ cmd: ['sh', '-c', `setsid -f sleep ${marker} </dev/null >/dev/null 2>&1`] }),
  });
  assert.equal(((await job.json()) as { exit_code: number }).exit_code, 0);
  // `setsid -f` returns before its child has exec'd sleep: wait for it to show up.
  await waitFor(() => spawnSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' }).stdout.trim() !== '', 'the detached job to run');

  sim.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  assert.match(out, /SIGTERM: ending every pod/);
  assert.equal(existsSync(stateDir), false, 'the temp state dir is removed');
  const stray = spawnSync('pgrep', ['-f', stateDir], { encoding: 'utf8' });
  assert.equal(stray.stdout.trim(), '', 'no process of the simulator is left');
  assert.equal(
    spawnSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' }).stdout.trim(),
    '',
    "the live pod's detached job died with it",
  );
});

test('npm run sim refuses bad flags with a message and a non-zero exit', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test', 'sim', 'cli.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
  const unknown = run('--bogus');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option --bogus/);
  assert.match(unknown.stderr, /usage: npm run sim/);
  const badNumber = run('--clock-speed', 'fast');
  assert.equal(badNumber.status, 2);
  assert.match(badNumber.stderr, /--clock-speed needs a number/);
  const badFaults = run('--faults', 'explode:/me');
  assert.equal(badFaults.status, 1);
  assert.match(badFaults.stderr, /could not start: --faults: unknown fault type "explode"/);
});

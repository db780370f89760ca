/**
 * Secrets never leak: a full scenario through the library — rent with a server-minted key, sync a
 * local folder and run a job with a followed log, an interactive terminal, a one-shot exec, a 401
 * after the token is reissued, a burst of 5xx, a refused SSH key — collecting everything a user
 * or a log could see: every callback's text, the terminal's output, the exec report, the errors
 * (message, String, JSON and util.inspect with causes), the job state kept for a reload, the files
 * written under the local workspace, the extension's storage and the pod's /workspace. None of it
 * may contain the account token (old or reissued), any line of the minted private key, or the
 * in-pod token.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { startSimulator } from '../../sim/index';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { describeExecResult, formatExecReport, runExec } from '../../../src/kgpu/api/exec-request';
import { MemoryHostKeyStore } from '../../../src/kgpu/ssh/host-keys';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { PodShell } from '../../../src/kgpu/ssh/pod-shell';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { throwawayEd25519 } from '../kgpu/api/api-fixture';
import { MapStore, waitFor } from './fleet-fixture';

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

test('a full scenario: no token, minted private key or in-pod token in any output, error, state or file the product writes', async (t) => {
  const sim = await startSimulator({ clockSpeed: 0, diskCheckIntervalMs: 0 });
  t.after(() => sim.stop());
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-secrets-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const outputs: { where: string; text: string }[] = [];
  const see = (where: string, v: unknown): void => {
    outputs.push({
      where,
      text:
        typeof v === 'string'
          ? v
          : Buffer.isBuffer(v)
            ? v.toString('latin1')
            : `${String(v)}\n${safeJson(v)}\n${inspect(v, { depth: 8, showHidden: false })}`,
    });
  };
  const accountToken = sim.token;
  const client = new KgpuClient({
    apiBase: sim.apiBase,
    getToken: async () => sim.token,
    retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 2 },
  });
  t.after(() => client.close());

  // Rent with a server-minted key (kept in memory here, as SecretStorage would).
  const rented = await client.rent({ gpu_model: 'v100', name: 'secrets' });
  const privateKey = rented.ssh_access?.private_key;
  assert.ok(privateKey, 'the server minted a key');
  const podId = rented.pod_id;
  see('rent result without the key', { ...rented, ssh_access: { ...rented.ssh_access, private_key: undefined } });
  see('ready pod', await client.waitUntilReady(podId, { intervalMs: 10, pollFloorMs: 0, onProgress: (p) => see('wait progress', p) }));
  const podToken = sim.podToken(podId);
  const hostKeys = new MemoryHostKeyStore();
  const connectors: PodConnector[] = [];
  const connector = (key: string = privateKey): PodConnector => {
    const c = new PodConnector({ host: sim.sshHost, port: sim.sshPort, privateKey: key, hostKeys, readyTimeoutMs: 10_000 });
    connectors.push(c);
    return c;
  };
  t.after(() => connectors.forEach((c) => c.dispose()));

  // Sync a local folder and run a job in it, following its log.
  const workspace = path.join(root, 'project');
  const storage = path.join(root, 'global-storage');
  fs.mkdirSync(workspace, { recursive: true });
  fs.writeFileSync(
    path.join(workspace, 'train.py'),
    'import sys\nfor i in range(3):\n    print("epoch", i, flush=True)\nprint("args", sys.argv[1:])\n',
  );
  const store = new MapStore();
  const runner = new JobRunner({ commands: async () => podCommands(connector()), store, syncStateDir: storage, pollMs: 0 });
  t.after(() => runner.dispose());
  const h = runner.runFile({
    podId,
    target: { kind: 'local', folder: workspace, file: path.join(workspace, 'train.py') },
    python: 'python3',
    args: ['--lr', '0.1'],
    env: { WANDB_MODE: 'offline' },
    onData: (b) => see('job log', b),
    onSyncProgress: (p) => see('sync progress', p),
    onReconnect: (r) => see('reconnect', r),
  });
  see('run plan', h.plan);
  see('synced', await h.synced);
  see('started', await h.started);
  see('followed', await h.done);
  see('jobs', await runner.refresh(podId));

  // An interactive terminal: the user even asks for the token (stripped from interactive sessions).
  const shell = new PodShell({ connector: async () => connector(), podLabel: `secrets (${podId})` });
  let screen = '';
  shell.onOutput((s) => (screen += s));
  await shell.start();
  shell.input('echo "tok=[$KGPU_API_TOKEN]"; echo hello-from-pod\r');
  await waitFor('the terminal output', () => screen.includes('hello-from-pod\r\n'));
  shell.input('exit\r');
  await waitFor('the shell to exit', () => shell.state === 'exited' || shell.state === 'closed');
  shell.close();
  see('terminal', screen);

  // A one-shot exec (Run Command…), its report as the output channel shows it.
  const outcome = await runExec(client, podId, { argv: ['sh', '-c', 'echo one-shot; nvidia-smi -L'] });
  see(
    'exec report',
    formatExecReport(`secrets (${podId})`, ['sh', '-c', 'echo one-shot; nvidia-smi -L'], describeExecResult(outcome.response, 60)),
  );

  // Errors: a burst of 5xx, an SSH key the bastion refuses, and a 401 after the token is reissued.
  sim.faults.failNext('GET', '/pods', 500, { count: 5 });
  see('5xx error', await client.listPods().catch((e: unknown) => e));
  see('refused key error', await exec(connector(throwawayEd25519().private), 'true').catch((e: unknown) => e));
  const stale = new KgpuClient({ apiBase: sim.apiBase, getToken: async () => accountToken });
  t.after(() => stale.close());
  const reissued = sim.reissueToken();
  see('401 error', await stale.getMe().catch((e: unknown) => e));
  see('401 on rent', await stale.rent({ gpu_model: 'v100' }).catch((e: unknown) => e));

  // State kept for a reload, and files the product wrote here and in the pod.
  see('workspaceState', JSON.stringify([...store.map]));
  const podDir = sim.state.pods.get(podId)?.handle?.workspaceDir;
  assert.ok(podDir);
  const files = [...filesUnder(workspace), ...filesUnder(storage), ...filesUnder(path.join(podDir, '.kgpu')), ...filesUnder(podDir)];
  assert.ok(
    files.some((f) => f.includes(`${path.sep}.kgpu${path.sep}`)),
    'the job wrapper wrote its files in the pod',
  );
  for (const f of files) see(`file ${f}`, fs.readFileSync(f));

  // The scenario really produced output (a test that saw nothing would pass vacuously).
  const all = outputs.map((o) => o.text).join('\n');
  for (const expected of [
    'epoch 2',
    "args ['--lr', '0.1']",
    'hello-from-pod',
    'one-shot',
    'sign in again',
    'trace',
    'Permission denied (publickey)',
    'tok=[]',
  ]) {
    assert.ok(all.includes(expected), `the scenario's outputs include ${JSON.stringify(expected)}`);
  }

  const keyLines = privateKey
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
  assert.ok(keyLines.length > 0);
  const secrets: [string, string][] = [
    ['the account token', accountToken],
    ['the reissued account token', reissued],
    ['the in-pod token', podToken],
    ...keyLines.map((l, i): [string, string] => [`line ${i + 1} of the minted private key`, l]),
  ];
  const leaks: string[] = [];
  for (const o of outputs) for (const [name, secret] of secrets) if (o.text.includes(secret)) leaks.push(`${name} in ${o.where}`);
  assert.deepEqual(leaks, [], 'no secret in any output');
  t.diagnostic(`searched ${outputs.length} outputs (${all.length} chars, ${files.length} files) for ${secrets.length} secrets`);
});

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

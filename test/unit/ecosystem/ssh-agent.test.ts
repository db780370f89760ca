import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sshAgentSocket } from '../../../src/kgpu/net/ssh-agent';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../src/kgpu/ssh/ssh-exec';
import { startPodFixture, throwawayKey, type PodFixture } from '../kgpu/ssh/pod-fixture';
import { waitFor } from '../wait-for';

let pod: PodFixture;
let tmp: string;
let agent: ChildProcess;
let sock: string;
before(async () => {
  pod = await startPodFixture();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-agent-test-'));
  sock = path.join(tmp, 'agent.sock');
  // A real OpenSSH agent in the foreground (-D), holding the rental's key.
  agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  await waitFor('the agent socket', () => fs.existsSync(sock));
  const keyFile = path.join(tmp, 'id');
  fs.writeFileSync(keyFile, pod.privateKey.endsWith('\n') ? pod.privateKey : pod.privateKey + '\n', { mode: 0o600 });
  execFileSync('ssh-add', [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'pipe' });
  fs.rmSync(keyFile);
});
after(async () => {
  agent?.kill();
  await pod?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('with no key of ours, the SSH agent supplies the rental key (the key never leaves the agent)', async () => {
  const c = new PodConnector({
    host: pod.bastion.host,
    port: pod.bastion.port,
    agent: sock,
    hostKeys: pod.hostKeys,
    readyTimeoutMs: 10_000,
  });
  try {
    const r = await exec(c, 'echo via-agent');
    assert.equal(r.stdout.toString(), 'via-agent\n');
  } finally {
    c.dispose();
  }
});

test('an agent without the rental key is refused by the bastion as any wrong key is', async () => {
  const other = path.join(tmp, 'other.sock');
  const a2 = spawn('ssh-agent', ['-D', '-a', other], { stdio: 'ignore' });
  try {
    await waitFor('the second agent socket', () => fs.existsSync(other));
    const f = path.join(tmp, 'other');
    fs.writeFileSync(f, throwawayKey().privateKey + '\n', { mode: 0o600 });
    execFileSync('ssh-add', [f], { env: { ...process.env, SSH_AUTH_SOCK: other }, stdio: 'pipe' });
    const c = new PodConnector({
      host: pod.bastion.host,
      port: pod.bastion.port,
      agent: other,
      hostKeys: pod.hostKeys,
      readyTimeoutMs: 10_000,
    });
    try {
      await assert.rejects(c.connect(), { name: 'AuthRejectedError' });
    } finally {
      c.dispose();
    }
  } finally {
    a2.kill();
  }
});

test('which agent: $SSH_AUTH_SOCK, else Pageant on Windows, else none', () => {
  assert.equal(sshAgentSocket({ SSH_AUTH_SOCK: '/run/a.sock' }, 'linux'), '/run/a.sock');
  assert.equal(sshAgentSocket({ SSH_AUTH_SOCK: '\\\\.\\pipe\\openssh-ssh-agent' }, 'win32'), '\\\\.\\pipe\\openssh-ssh-agent');
  assert.equal(sshAgentSocket({}, 'win32'), 'pageant');
  assert.equal(sshAgentSocket({}, 'linux'), undefined);
});

/**
 * The simulator's bastion and pods against the REAL OpenSSH clients (ssh, scp -O, sftp -s, rsync),
 * each test with its own throwaway key: what works, and what the contract says is refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { holdPodNamespace, hostPidsOfPod } from '../../sim/pods';
import { startBastionFixture, waitFor, type BastionFixture } from './bastion-fixture';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const DEST = 'kgpu@127.0.0.1';

describe('bastion with real OpenSSH clients', () => {
  let fx: BastionFixture;
  before(async () => {
    fx = await startBastionFixture();
  });
  after(async () => {
    await fx.close();
  });

  it('runs nvidia-smi and uname -a in the pod; exit status and signals come back', async () => {
    const { key } = await fx.rentPod('pod-basic', { gpuModel: 'v100', gpuCount: 2 });
    const smi = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'nvidia-smi']);
    assert.equal(smi.code, 0, smi.stderr);
    assert.match(smi.stdout, /NVIDIA-SMI/);
    assert.match(smi.stdout, /\(simulated\)/);
    assert.equal(smi.stdout.match(/Tesla V100/g)?.length, 2);
    const list = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'nvidia-smi', '-L']);
    assert.deepEqual(
      list.stdout
        .trim()
        .split('\n')
        .map((l) => l.replace(/ \(UUID.*$/, '')),
      ['GPU 0: Tesla V100-SXM2-32GB', 'GPU 1: Tesla V100-SXM2-32GB'],
    );
    const uname = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'uname -a']);
    assert.equal(uname.code, 0, uname.stderr);
    assert.match(uname.stdout, /^Linux /);
    const status = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'echo out; echo err >&2; exit 7']);
    assert.deepEqual([status.code, status.stdout, status.stderr], [7, 'out\n', 'err\n']);
    // Killed by a signal: OpenSSH exits 255 after an exit-signal.
    const killed = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'kill -TERM $$']);
    assert.deepEqual([killed.code, killed.stderr], [255, '']);
    assert.ok(fx.activity.includes('pod-basic'));
  });

  it('puts the session in /workspace with the pod env; exec sees the token, shells do not, /proc/1/environ does', async () => {
    const { key } = await fx.rentPod('pod-env', { env: { MY_VAR: 'mine' } });
    const r = await fx.run('ssh', [
      ...fx.sshOpts(key),
      DEST,
      'pwd; echo $HOME; echo $KGPU_RENT_ID $MY_VAR $NVIDIA_VISIBLE_DEVICES; echo tok=$KGPU_API_TOKEN; python -c "import sys; print(sys.version_info[0])"; command -v setsid tmux /usr/lib/openssh/sftp-server',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 5), ['/workspace', '/workspace', 'pod-env mine void', 'tok=kgpu_pod_pod-env.testsig', '3']);
    assert.ok(lines.some((l) => l.endsWith('/setsid')) && lines.includes('/usr/lib/openssh/sftp-server'), r.stdout);
    // Interactive shell (no command): the token is stripped, but the pod's init still carries it.
    const sh = await fx.run('ssh', [...fx.sshOpts(key), '-T', DEST], {
      input: 'echo tok=$KGPU_API_TOKEN; tr "\\0" "\\n" < /proc/1/environ | grep ^KGPU_API_TOKEN=\n',
    });
    assert.equal(sh.code, 0, sh.stderr);
    assert.deepEqual(sh.stdout.trim().split('\n'), ['tok=', 'KGPU_API_TOKEN=kgpu_pod_pod-env.testsig']);
  });

  it('serves an interactive shell through ssh -tt', async () => {
    const { key, handle } = await fx.rentPod('pod-tty');
    const r = await fx.run('ssh', [...fx.sshOpts(key), '-tt', DEST], { input: 'echo hi; tty; stty size; exit\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(handle.workspaceDir), [], 'an interactive shell leaves no dotfiles in /workspace');
    assert.match(r.stdout, /[\r\n]hi\r\n/);
    assert.match(r.stdout, /\/dev\/pts\/\d+\r\n/);
    assert.match(r.stdout, /\r\n\d+ \d+\r\n/);
  });

  it('scp -O pushes and pulls byte-identical files; plain scp fails with "subsystem request failed"', async () => {
    const { key, handle } = await fx.rentPod('pod-scp');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const local = join(fx.dir, 'scp-up.bin');
    writeFileSync(local, data);
    const push = await fx.run('scp', [
      '-O',
      '-P',
      String(fx.bastion.port),
      ...fx.sshOpts(key).slice(2),
      local,
      `${DEST}:/workspace/data.bin`,
    ]);
    assert.equal(push.code, 0, push.stderr);
    assert.equal(sha256(readFileSync(join(handle.workspaceDir, 'data.bin'))), sha256(data));
    const back = join(fx.dir, 'scp-down.bin');
    const pull = await fx.run('scp', [
      '-O',
      '-P',
      String(fx.bastion.port),
      ...fx.sshOpts(key).slice(2),
      `${DEST}:/workspace/data.bin`,
      back,
    ]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(sha256(readFileSync(back)), sha256(data));
    const before = fx.bastion.counters.refusedSubsystems;
    const plain = await fx.run('scp', ['-P', String(fx.bastion.port), ...fx.sshOpts(key).slice(2), local, `${DEST}:/workspace/plain.bin`]);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /subsystem request failed/);
    assert.equal(fx.bastion.counters.refusedSubsystems, before + 1);
    assert.equal(existsSync(join(handle.workspaceDir, 'plain.bin')), false);
  });

  it('sftp -s /usr/lib/openssh/sftp-server lists, puts and gets in /workspace; rsync pulls a directory', async () => {
    const { key, handle } = await fx.rentPod('pod-sftp');
    writeFileSync(join(handle.workspaceDir, 'hello.txt'), 'hello from the pod\n');
    const up = join(fx.dir, 'sftp-up.txt');
    writeFileSync(up, 'uploaded by sftp\n');
    const got = join(fx.dir, 'sftp-got.txt');
    const batch = `cd /workspace\nls -1\nput ${up} up.txt\nget hello.txt ${got}\n`;
    const r = await fx.run(
      'sftp',
      ['-P', String(fx.bastion.port), ...fx.sshOpts(key).slice(2), '-s', '/usr/lib/openssh/sftp-server', '-b', '-', DEST],
      { input: batch },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello\.txt/);
    assert.equal(readFileSync(join(handle.workspaceDir, 'up.txt'), 'utf8'), 'uploaded by sftp\n');
    assert.equal(readFileSync(got, 'utf8'), 'hello from the pod\n');

    mkdirSync(join(handle.workspaceDir, 'out', 'sub'), { recursive: true });
    writeFileSync(join(handle.workspaceDir, 'out', 'a.txt'), 'A');
    writeFileSync(join(handle.workspaceDir, 'out', 'sub', 'b.bin'), randomBytes(100_000));
    const dest = join(fx.dir, 'rsync-out');
    const e = ['ssh', ...fx.sshOpts(key)].join(' ');
    const rs = await fx.run('rsync', ['-a', '-e', e, `${DEST}:/workspace/out/`, `${dest}/`]);
    assert.equal(rs.code, 0, rs.stderr);
    assert.deepEqual(readdirSync(dest).sort(), ['a.txt', 'sub']);
    assert.equal(sha256(readFileSync(join(dest, 'sub', 'b.bin'))), sha256(readFileSync(join(handle.workspaceDir, 'out', 'sub', 'b.bin'))));
  });

  it('sshfs mounts /workspace with -o sftp_server=… (where FUSE is available)', async (t) => {
    if (!existsSync('/dev/fuse') || !existsSync('/usr/bin/sshfs')) {
      t.skip('no FUSE or sshfs on this machine');
      return;
    }
    const { key, handle } = await fx.rentPod('pod-sshfs');
    writeFileSync(join(handle.workspaceDir, 'remote.txt'), 'from the pod');
    const mnt = join(fx.dir, 'mnt');
    mkdirSync(mnt);
    const o = fx.sshOpts(key);
    const opts = ['-p', String(fx.bastion.port), '-o', `IdentityFile=${key.path}`, '-o', 'sftp_server=/usr/lib/openssh/sftp-server'];
    for (let i = 4; i < o.length; i += 2) opts.push('-o', o[i + 1]);
    const m = await fx.run('sshfs', [`${DEST}:/workspace`, mnt, ...opts]);
    assert.equal(m.code, 0, m.stderr);
    try {
      // Async fs only: the bastion answering the mount lives in this very event loop.
      assert.equal(await readFile(join(mnt, 'remote.txt'), 'utf8'), 'from the pod');
      await writeFile(join(mnt, 'local.txt'), 'from the mount');
      assert.equal(readFileSync(join(handle.workspaceDir, 'local.txt'), 'utf8'), 'from the mount');
    } finally {
      await fx.run('fusermount', ['-u', '-z', mnt]);
    }
  });

  it('refuses a second session through an OpenSSH ControlMaster', async () => {
    const { key } = await fx.rentPod('pod-mux');
    const ctl = join(fx.dir, 'mux.sock');
    const refusedBefore = fx.bastion.counters.refusedChannels;
    // The master's own session holds the connection's one channel.
    const master = spawn(
      'ssh',
      [...fx.sshOpts(key), '-o', 'ControlMaster=yes', '-o', `ControlPath=${ctl}`, DEST, 'echo master-up; exec cat'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      let masterOut = '';
      master.stdout.setEncoding('utf8').on('data', (d: string) => (masterOut += d));
      await waitFor('the master session', () => masterOut.includes('master-up') && existsSync(ctl));
      const second = await fx.run('ssh', [
        ...fx.sshOpts(key, 'INFO'),
        '-o',
        'ControlMaster=no',
        '-o',
        `ControlPath=${ctl}`,
        DEST,
        'echo second',
      ]);
      // OpenSSH reports the mux refusal, then falls back to a connection of its own.
      assert.match(second.stderr, /mux_client_request_session: session request failed: Session open refused by peer/, second.stderr);
      assert.equal(second.stdout, 'second\n');
      assert.ok(fx.bastion.counters.refusedChannels > refusedBefore);
    } finally {
      master.stdin.end();
      master.kill();
    }
  });

  it('refuses -L, -R and -W forwarding', async () => {
    const { key } = await fx.rentPod('pod-fwd');
    const before = fx.bastion.counters.refusedForwards;
    const r = await fx.run('ssh', [...fx.sshOpts(key), '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', DEST, 'true']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /remote port forwarding failed/);
    const w = await fx.run('ssh', [...fx.sshOpts(key), '-W', '127.0.0.1:9', DEST]);
    assert.equal(w.code, 255);
    assert.match(w.stderr, /open failed|forwarding failed/, w.stderr);
    // -L: the listener is local; the bastion refuses the channel when something connects to it.
    const localPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const l = spawn(
      'ssh',
      [...fx.sshOpts(key, 'INFO'), '-o', 'ExitOnForwardFailure=yes', '-L', `${localPort}:127.0.0.1:9`, DEST, 'echo fwd-up; exec cat'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      let err = '';
      l.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      l.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      await waitFor('the -L session', () => out.includes('fwd-up'));
      await new Promise<void>((resolve) => {
        const s = connect(localPort, '127.0.0.1');
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
      await waitFor('the refusal on the ssh side', () => /open failed/.test(err));
    } finally {
      l.stdin.end();
      l.kill();
    }
    assert.ok(fx.bastion.counters.refusedForwards >= before + 3, JSON.stringify(fx.bastion.counters));
  });

  it('setsid -f returns at once, the job outlives the connection, and release kills it and refuses the key', async () => {
    const { key, handle } = await fx.rentPod('pod-job');
    // The job cannot get past its gate until /workspace/go exists, and the test makes that file
    // only after the ssh command returned: its return proves setsid -f did not wait for the job
    // (with no clock: a setsid that waited would hang until the 60 s bound and fail the code check).
    writeFileSync(
      join(handle.workspaceDir, 'train.py'),
      'import os, time\nprint("waiting", flush=True)\nwhile not os.path.exists("/workspace/go"):\n    time.sleep(0.02)\nfor i in range(100000):\n    print("step", i, flush=True)\n    time.sleep(0.02)\n',
    );
    const start = await fx.run(
      'ssh',
      [...fx.sshOpts(key), DEST, 'setsid -f python /workspace/train.py < /dev/null > /tmp/train.log 2>&1'],
      { timeoutMs: 60_000 },
    );
    assert.equal(start.code, 0, start.stderr);
    const log = async (): Promise<string> => (await fx.run('ssh', [...fx.sshOpts(key), DEST, 'cat /tmp/train.log'])).stdout;
    const gated = await waitFor(
      'the job to start and wait at its gate',
      async () => {
        const l = await log();
        return l.includes('waiting') ? l : undefined;
      },
      60_000,
    );
    assert.doesNotMatch(gated, /step/, 'the job is still at its gate: the exec returned before it could end');
    writeFileSync(join(handle.workspaceDir, 'go'), '');
    const step = async (): Promise<number> => {
      const r = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'tail -n 1 /tmp/train.log']);
      const m = /step (\d+)/.exec(r.stdout);
      return m ? Number(m[1]) : -1;
    };
    const first = (await waitFor('the job to write', async () => (await step()) + 1)) - 1;
    await waitFor('the job to keep writing after its connection closed', async () => (await step()) > first);
    const pids = hostPidsOfPod(handle);
    assert.ok(pids.length >= 2, `pod processes: ${pids.join(',')}`);
    const jobPid = pids.find((p) => /train\.py/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')));
    assert.ok(jobPid, 'the job is visible in the host process table');

    const releaseNs = holdPodNamespace(handle);
    try {
      await fx.releasePod('pod-job');
      assert.deepEqual(hostPidsOfPod(handle), []);
    } finally {
      releaseNs();
    }
    assert.equal(existsSync(`/proc/${jobPid}`), false, 'the job is gone after release');
    assert.equal(existsSync(handle.workspaceDir), false, 'the disk is gone');
    const denied = await fx.run('ssh', [...fx.sshOpts(key), DEST, 'true']);
    assert.equal(denied.code, 255);
    assert.match(denied.stderr, /Permission denied \(publickey\)/);
  });

  it('routes each key to exactly its own pod; unknown keys and other users are refused', async () => {
    const a = await fx.rentPod('pod-a');
    const b = await fx.rentPod('pod-b');
    writeFileSync(join(a.handle.workspaceDir, 'who'), 'A');
    writeFileSync(join(b.handle.workspaceDir, 'who'), 'B');
    const ra = await fx.run('ssh', [...fx.sshOpts(a.key), DEST, 'cat /workspace/who; echo; ls /workspace; ps -e -o comm=']);
    const rb = await fx.run('ssh', [...fx.sshOpts(b.key), DEST, 'cat /workspace/who']);
    assert.equal(ra.stdout.split('\n')[0], 'A');
    assert.equal(rb.stdout, 'B');
    assert.doesNotMatch(ra.stdout, /train\.py|\bsshd\b|node/, 'pod A sees only its own processes');
    const stranger = fx.newKey();
    const rs = await fx.run('ssh', [...fx.sshOpts(stranger), DEST, 'true']);
    assert.match(rs.stderr, /Permission denied \(publickey\)/);
    const root = await fx.run('ssh', [...fx.sshOpts(a.key), 'root@127.0.0.1', 'true']);
    assert.match(root.stderr, /Permission denied \(publickey\)/);
  });
});

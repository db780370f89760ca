/**
 * PodConnector's spare connections (src/kgpu/ssh/ssh-connection.ts) against the simulator's bastion,
 * reached through a TCP gate (tcp-gate.ts) that counts connections and can hold, cut or refuse
 * new ones: spares serve connect() without a new TCP connection, each still carries exactly one
 * channel, a dropped or failed spare is never handed out (the caller connects afresh), spares are
 * closed after the idle window and on dispose, and a run (sync + start + follow) uses them.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { JobRunner } from '../../../../src/kgpu/jobs/job-runner';
import { podCommands } from '../../../../src/kgpu/ssh/pod-commands';
import { PodConnector, type PodConnectorOptions } from '../../../../src/kgpu/ssh/ssh-connection';
import { exec } from '../../../../src/kgpu/ssh/ssh-exec';
import { AuthRejectedError, BastionUnreachableError, SshAbortedError } from '../../../../src/kgpu/ssh/ssh-errors';
import { waitFor } from '../jobs/jobs-fixture';
import { startPodFixture, type PodFixture } from './pod-fixture';
import { startTcpGate, type TcpGate } from './tcp-gate';

let pod: PodFixture;
/** The current test's gate (each test has its own, so its counts are that test's alone). */
let gate: TcpGate;
const connectors: PodConnector[] = [];

before(async () => {
  pod = await startPodFixture();
});
beforeEach(async () => {
  gate = await startTcpGate({ host: pod.bastion.host, port: pod.bastion.port });
});
afterEach(async () => {
  for (const c of connectors.splice(0)) c.dispose();
  await gate.close();
});
after(async () => {
  await pod?.stop();
});

function connector(options: Partial<PodConnectorOptions> = {}): PodConnector {
  const c = new PodConnector({
    host: pod.bastion.host,
    port: gate.port,
    privateKey: pod.privateKey,
    hostKeys: pod.hostKeys,
    readyTimeoutMs: 10_000,
    spareConnections: 2,
    ...options,
  });
  connectors.push(c);
  return c;
}

async function echo(c: PodConnector, text: string): Promise<void> {
  const r = await exec(c, ['echo', text]);
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout.toString(), `${text}\n`);
}

test('spares are off by default: no connection is opened beyond the one asked for', async () => {
  const c = new PodConnector({
    host: pod.bastion.host,
    port: gate.port,
    privateKey: pod.privateKey,
    hostKeys: pod.hostKeys,
    readyTimeoutMs: 10_000,
  });
  connectors.push(c);
  const before = gate.accepted;
  await echo(c, 'plain');
  assert.equal(gate.accepted - before, 1);
  assert.equal(c.spareConnections, 0);
  assert.deepEqual(c.connectStats, { fromSpare: 0, fresh: 1 });
});

test('ready spares serve connect() without a new TCP connection; each carries one channel and is replaced after use', async () => {
  const refusedBefore = pod.bastion.counters.refusedChannels;
  const c = connector();
  await echo(c, 'first'); // fresh; starts 2 spares
  await waitFor('2 ready spares', () => c.readySpares === 2);

  // No new connection can be made now: two execs at once still work, on the spares.
  gate.mode = 'refuse';
  const accepted = gate.accepted;
  await Promise.all([echo(c, 'a'), echo(c, 'b')]);
  assert.deepEqual(c.connectStats, { fromSpare: 2, fresh: 1 });
  // (Their replacements were refused at the gate, silently.)
  await waitFor('the refused replacements to be given up', () => c.spareConnections === 0);
  assert.ok(gate.accepted > accepted, 'replacements were attempted');

  // The next caller connects afresh and gets THAT connection's error (no spare to blame).
  await assert.rejects(echo(c, 'c'), BastionUnreachableError);

  // Back in service: a fresh connection, and spares again.
  gate.mode = 'pass';
  await echo(c, 'd');
  await waitFor('2 ready spares again', () => c.readySpares === 2);
  assert.equal(c.openConnections, 0, 'every handed-out connection was closed with its channel');
  assert.equal(pod.bastion.counters.refusedChannels, refusedBefore, 'never a second channel on a connection');
});

test('a spare dropped by the bastion is not handed out: connect() falls back to a fresh connection', async () => {
  const c = connector();
  await echo(c, 'warm');
  await waitFor('2 ready spares', () => c.readySpares === 2);
  const stats = c.connectStats;
  pod.bastion.dropConnections({ podId: pod.podId });
  await waitFor('the dropped spares to leave the pool', () => c.spareConnections === 0);
  await echo(c, 'after the drop');
  assert.deepEqual(c.connectStats, { fromSpare: stats.fromSpare, fresh: stats.fresh + 1 });
  await waitFor('spares refilled', () => c.readySpares === 2);
  await echo(c, 'on a spare');
  assert.equal(c.connectStats.fromSpare, stats.fromSpare + 1);
});

test('a spare whose handshake fails while a caller waits for it: the caller gets a fresh connection, not the error', async () => {
  const c = connector({ spareConnections: 1 });
  gate.mode = 'hold';
  // connect #1: a spare (S1) and the caller's fresh connection, both held at the gate; let both in.
  const first = c.connect();
  (await gate.next()).pass();
  (await gate.next()).pass();
  (await first).close();
  await waitFor('the spare to be ready', () => c.readySpares === 1);
  // connect #2 takes S1 at once and starts S2 (held).
  const second = await c.connect();
  second.close();
  const s2 = await gate.next();
  // connect #3 finds S2 still connecting and waits for it; S3 is started (held).
  const third = c.connect();
  const s3 = await gate.next();
  s2.kill(); // S2's handshake fails
  const fresh = await gate.next(); // so connect #3 dials afresh
  fresh.pass();
  const conn = await third;
  assert.deepEqual(c.connectStats, { fromSpare: 1, fresh: 2 });
  // It is a working connection.
  const ch = await new Promise<ClientChannel>((resolve, reject) =>
    conn.client.exec('echo ok', (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  let out = '';
  ch.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise((r) => ch.on('close', r));
  conn.close();
  assert.equal(out, 'ok\n');
  s3.kill();
  gate.mode = 'pass';
});

test("a key that stops working: callers see the fresh connection's AuthRejectedError, failed spares are not retried in a loop", async () => {
  const c = connector();
  await echo(c, 'warm');
  await waitFor('2 ready spares', () => c.readySpares === 2);
  const pin = pod.directory.pins.get(pod.fingerprint);
  assert.ok(pin);
  pod.directory.pins.delete(pod.fingerprint); // the rental's key was rotated
  try {
    pod.bastion.dropConnections({ podId: pod.podId });
    await waitFor('the dropped spares to leave the pool', () => c.spareConnections === 0);
    const failures = pod.bastion.counters.authFailures;
    await assert.rejects(echo(c, 'x'), AuthRejectedError);
    await waitFor('the replacements to fail', () => c.spareConnections === 0);
    const afterFirst = pod.bastion.counters.authFailures;
    assert.ok(afterFirst - failures <= 3, `one caller + at most 2 spares tried (${afterFirst - failures})`);
    await assert.rejects(echo(c, 'y'), AuthRejectedError);
    assert.equal(c.spareConnections, 0, 'no new spares while connecting fails');
    assert.equal(pod.bastion.counters.authFailures - afterFirst, 1, "only the caller's own attempt");
  } finally {
    pod.directory.pins.set(pod.fingerprint, pin);
  }
  // The key works again: the next connection succeeds and spares come back.
  await echo(c, 'back');
  await waitFor('spares again', () => c.readySpares === 2);
});

test('spares are closed after the idle window and not replaced until the next connect()', async () => {
  const c = connector({ spareIdleMs: 500 });
  const before = gate.accepted;
  await echo(c, 'once');
  // The fresh connection and 2 spares were opened; when the idle window ends every spare is
  // closed, at our end and at the bastion's.
  await waitFor('the spares to be opened, then closed', () => gate.accepted - before === 3 && c.spareConnections === 0 && gate.live === 0);
  // The next use starts again: a fresh connection (no spare was left), then new spares.
  await echo(c, 'again');
  assert.deepEqual(c.connectStats, { fromSpare: 0, fresh: 2 });
  await waitFor('closed again', () => gate.accepted - before === 6 && c.spareConnections === 0 && gate.live === 0);
});

test('dispose() closes the spares (also those still connecting) and refuses new connections', async () => {
  const c = connector();
  await echo(c, 'warm');
  await waitFor('2 ready spares', () => c.readySpares === 2);
  gate.mode = 'hold';
  const taken = await c.connect(); // a spare; its replacement is held at the gate, mid-connect
  const held = await gate.next();
  c.dispose();
  assert.equal(c.spareConnections, 0);
  held.pass();
  taken.close();
  gate.mode = 'pass';
  await waitFor('every connection closed', () => gate.live === 0);
  await assert.rejects(c.connect(), /disposed/);
});

test('a caller that gives up while waiting for a connecting spare gets SshAbortedError; nothing is left open', async () => {
  const c = connector({ spareConnections: 1 });
  await echo(c, 'warm');
  await waitFor('the spare to be ready', () => c.readySpares === 1);
  gate.mode = 'hold';
  (await c.connect()).close(); // takes the spare; its replacement is held
  const replacement = await gate.next();
  const ac = new AbortController();
  const waiting = c.connect({ signal: ac.signal }); // waits for the held replacement
  const next = await gate.next(); // (its own replacement)
  ac.abort();
  await assert.rejects(waiting, SshAbortedError);
  replacement.pass();
  next.pass();
  gate.mode = 'pass';
  await waitFor('the spare to be ready', () => c.readySpares === 1);
  c.dispose();
  await waitFor('every connection closed', () => gate.live === 0);
});

test('a run (sync + start + follow) over a connector with spares: the log arrives whole, spares serve the re-run, one channel per connection', async () => {
  const refusedBefore = pod.bastion.counters.refusedChannels;
  const c = connector();
  const pods = podCommands(c);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-spares-local-'));
  fs.writeFileSync(path.join(dir, 'main.py'), 'print("run", 1)\n');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-spares-state-'));
  const runner = new JobRunner({ commands: async () => pods, syncStateDir: stateDir, pollMs: 0 });
  try {
    const run = async (): Promise<string> => {
      let out = '';
      const h = runner.runFile({
        podId: pod.podId,
        target: { kind: 'local', folder: dir, file: path.join(dir, 'main.py') },
        python: 'python3',
        args: [],
        env: {},
        onData: (b) => void (out += b.toString()),
      });
      const r = await h.done;
      assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
      return out;
    };
    assert.equal(await run(), 'run 1\n');
    await waitFor('2 ready spares', () => c.readySpares === 2);
    fs.writeFileSync(path.join(dir, 'main.py'), 'print("run", 2)\n');
    const before = c.connectStats;
    assert.equal(await run(), 'run 2\n');
    const used = c.connectStats;
    const why = `${JSON.stringify(before)} → ${JSON.stringify(used)}`;
    assert.equal(
      used.fromSpare + used.fresh - before.fromSpare - before.fresh,
      2,
      `two connections: the follower, and the sync with the job's start in its exec (${why})`,
    );
    assert.equal(used.fromSpare - before.fromSpare, 2, `both were spares (${why})`);
    assert.equal(pod.bastion.counters.refusedChannels, refusedBefore, 'never a second channel on a connection');
  } finally {
    runner.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

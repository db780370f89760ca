/**
 * The agent's life in a simulator pod, driven through AgentClient: placement by content hash in
 * one exec (absent → sent once; present → not re-sent; a new version replaces the old; the pod
 * directory is private), one start shared by concurrent opens and reused (one SSH connection,
 * counted at a TCP gate), a killed agent (in-flight streams fail clearly, the next open restarts
 * it), a hung agent caught by the keepalive, the quiet-period close, cancellation and dispose.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { AgentStartError, agentScriptFrom, backoffReconnectPolicy, loadAgentScript, type AgentScript } from '../../../src/kgpu/agent';
import {
  AuthRejectedError,
  BastionUnreachableError,
  ChannelRefusedError,
  ConnectionLostError,
  SshAbortedError,
} from '../../../src/kgpu/ssh/ssh-errors';
import { sha256, startAgentFixture, waitFor, type AgentFixture } from './agent-fixture';

let f: AgentFixture;
let script: AgentScript;
before(async () => {
  f = await startAgentFixture();
  script = await loadAgentScript();
});
after(async () => {
  await f?.stop();
});

const DIR = '/tmp/kgpu-$(id -u)';

test('placement: absent → the program is sent once and started; present → started without sending it', async () => {
  await f.sh(`rm -rf ${DIR}`);
  const first = f.client();
  await first.start();
  assert.deepEqual({ starts: first.stats.starts, placements: first.stats.placements }, { starts: 1, placements: 1 });
  assert.equal(first.hello?.hash, script.hash);
  // In the pod: the file under its hash, byte for byte, in a directory only its owner can enter.
  const listing = await f.sh(`cd ${DIR} && stat -c '%a %U' . && ls -A && sha256sum agent-${script.hash}.py`);
  const [mode, names, sum] = listing.trim().split('\n');
  assert.equal(mode, '700 root');
  assert.equal(names, `agent-${script.hash}.py`, 'no temp file left');
  assert.equal(sum.split(' ')[0], sha256(script.source));

  const second = f.client();
  await second.start();
  assert.deepEqual({ starts: second.stats.starts, placements: second.stats.placements }, { starts: 1, placements: 0 });
  assert.notEqual(second.hello?.pid, first.hello?.pid, 'a second agent of its own');
});

test('placement: a new version is placed under its own hash and the old file is removed; concurrent first starts both work', async () => {
  const v2 = agentScriptFrom(Buffer.concat([script.source, Buffer.from('\n# another version\n')]));
  const a = f.client({ script: async () => v2 });
  const b = f.client({ script: async () => v2 });
  await Promise.all([a.start(), b.start()]);
  assert.equal(a.hello?.hash, v2.hash);
  assert.equal(a.stats.placements + b.stats.placements >= 1, true);
  assert.equal((await f.sh(`ls -A ${DIR}`)).trim(), `agent-${v2.hash}.py`);
  // And back: the shipped version is placed again, v2 removed.
  const c = f.client();
  await c.start();
  assert.equal(c.stats.placements, 1);
  assert.equal((await f.sh(`ls -A ${DIR}`)).trim(), `agent-${script.hash}.py`);
});

test("an unsafe agent directory (a symlink, someone else's) is refused, not used", async () => {
  await f.sh(`rm -rf ${DIR} /tmp/elsewhere && mkdir /tmp/elsewhere && ln -s /tmp/elsewhere ${DIR}`);
  try {
    const client = f.client();
    await assert.rejects(client.start(), (e: unknown) => {
      assert.ok(e instanceof AgentStartError, String(e));
      assert.match(e.message, /unsafe-dir/);
      return true;
    });
    assert.equal(client.stats.starts, 0);
    assert.equal((await f.sh('ls -A /tmp/elsewhere')).trim(), '', 'nothing written through the link');
    assert.equal(client.state, 'idle');
  } finally {
    await f.sh(`rm -f ${DIR}; rm -rf /tmp/elsewhere`);
  }
});

test('one agent for every caller: concurrent opens share one start, later opens reuse it — one SSH connection', async () => {
  const client = f.client();
  const accepted = f.gate.accepted;
  const streams = await Promise.all(Array.from({ length: 5 }, (_, i) => client.openStream({ kind: 'process', argv: ['echo', `s${i}`] })));
  const more = await client.openStream({ kind: 'process', argv: ['echo', 'later'] });
  const outs = await Promise.all(
    [...streams, more].map(async (s) => {
      const chunks: Buffer[] = [];
      for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
      return Buffer.concat(chunks).toString();
    }),
  );
  assert.deepEqual(outs, ['s0\n', 's1\n', 's2\n', 's3\n', 's4\n', 'later\n']);
  assert.equal(client.stats.starts, 1);
  assert.equal(f.gate.accepted - accepted, 1, 'one SSH connection');
});

test('a killed agent: streams in flight fail with ConnectionLostError saying so, the client stays usable, the next open restarts it', async () => {
  const client = f.client();
  const s = await client.openStream({ kind: 'process', argv: ['cat'] });
  const pid = client.hello?.pid;
  assert.ok(pid);
  const failed = once(s, 'error');
  await f.sh(`kill -9 ${pid}`);
  const [err] = (await failed) as Error[];
  assert.ok(err instanceof ConnectionLostError, String(err));
  assert.match(err.message, /the process `cat` through the kgpu pod agent \(the agent was killed by SIGKILL\)/);
  await waitFor('the client to be idle', () => client.state === 'idle');

  const again = await client.openStream({ kind: 'process', argv: ['echo', 'back'] });
  const chunks: Buffer[] = [];
  for await (const c of again as AsyncIterable<Buffer>) chunks.push(c);
  assert.equal(Buffer.concat(chunks).toString(), 'back\n');
  assert.equal(client.stats.starts, 2);
  assert.equal(client.stats.drops, 1);
  assert.notEqual(client.hello?.pid, pid);
});

test('keepalive: pings while a stream is open; an agent that stops answering is given up, its streams fail', async () => {
  const client = f.client({ keepaliveIntervalMs: 100, keepaliveTimeoutMs: 2_000 });
  const s = await client.openStream({ kind: 'process', argv: ['cat'] });
  await waitFor('pings to be sent and answered', () => client.pings >= 3 && client.state === 'running');
  const pid = client.hello?.pid;
  assert.ok(pid);
  const failed = once(s, 'error');
  await f.sh(`kill -STOP ${pid}`);
  try {
    const [err] = (await failed) as Error[];
    assert.ok(err instanceof ConnectionLostError, String(err));
    assert.match(err.message, /no answer from the agent for \d/);
  } finally {
    await f.sh(`kill -9 ${pid} 2>/dev/null || true`);
  }
});

test('quiet period: the agent is closed once no stream has been open for idleCloseMs, and started again on demand', async () => {
  await f.quiesce();
  const client = f.client({ idleCloseMs: 200 });
  const s = await client.openStream({ kind: 'process', argv: ['echo', 'hi'] });
  for await (const _ of s as AsyncIterable<Buffer>) void _;
  const pid = client.hello?.pid;
  assert.ok(pid);
  await waitFor('the idle close', () => client.stats.idleCloses === 1 && client.state === 'idle');
  await waitFor('its SSH connection to be closed', () => f.gate.live === 0);
  await waitFor('the agent process to exit in the pod', async () => !(await f.alive(pid)));
  assert.equal(client.stats.drops, 0, 'an idle close is not a drop');

  const again = await client.openStream({ kind: 'process', argv: ['true'] });
  again.resume();
  assert.deepEqual(await again.exit, { exitCode: 0, signal: null });
  assert.equal(client.stats.starts, 2);
});

test('an agent started with no stream also closes after the quiet period', async () => {
  await f.quiesce();
  const client = f.client({ idleCloseMs: 100 });
  await client.start();
  await waitFor('the idle close', () => client.stats.idleCloses === 1);
  await waitFor('its SSH connection to be closed', () => f.gate.live === 0);
});

test('cancellation: an open waiting for the start rejects with SshAbortedError at once; the start goes on for the others', async () => {
  const client = f.client();
  f.gate.mode = 'hold';
  try {
    const ac = new AbortController();
    const cancelled = client.openStream({ kind: 'process', argv: ['true'] }, { signal: ac.signal });
    const other = client.openStream({ kind: 'process', argv: ['echo', 'other'] });
    const held = await f.gate.next();
    ac.abort();
    await assert.rejects(cancelled, SshAbortedError);
    held.pass();
    const s = await other;
    const chunks: Buffer[] = [];
    for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'other\n');
    assert.equal(client.stats.starts, 1);
  } finally {
    f.gate.mode = 'pass';
  }
});

test('dispose: streams in flight fail, the agent connection is closed, later opens are refused', async () => {
  await f.quiesce();
  const client = f.client();
  const s = await client.openStream({ kind: 'process', argv: ['cat'] });
  const failed = once(s, 'error');
  client.dispose();
  const [err] = (await failed) as Error[];
  assert.ok(err instanceof ConnectionLostError, String(err));
  assert.equal(client.state, 'disposed');
  await assert.rejects(client.openStream({ kind: 'process', argv: ['true'] }), /disposed/);
  await waitFor('its SSH connection to be closed', () => f.gate.live === 0);
});

test('a stream without an error listener fails quietly (no uncaught error in the host); the error is kept', async () => {
  const client = f.client();
  const s = await client.openStream({ kind: 'process', argv: ['cat'] });
  // (events.once would listen for 'error' too.)
  const closed = new Promise((resolve) => s.on('close', resolve));
  client.closeAgent();
  await closed;
  assert.equal(s.listenerCount('error'), 0);
  assert.ok(s.failure instanceof ConnectionLostError);
});

test('a start that fails transiently is retried through the ReconnectPolicy; the open succeeds on the next attempt', async () => {
  const delays: number[] = [];
  const policy = backoffReconnectPolicy({ baseDelayMs: 20, maxDelayMs: 50 });
  const client = f.client({
    reconnect: {
      ...policy,
      retryDelayMs: (attempt, error) => {
        const d = policy.retryDelayMs(attempt, error);
        if (d !== undefined) delays.push(d);
        return d;
      },
    },
  });
  f.gate.mode = 'hold';
  try {
    const accepted = f.gate.accepted;
    const opening = client.openStream({ kind: 'process', argv: ['echo', 'retried'] });
    (await f.gate.next()).kill(); // the first connection is cut during the handshake
    (await f.gate.next()).pass();
    const s = await opening;
    const chunks: Buffer[] = [];
    for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'retried\n');
    assert.equal(delays.length, 1, 'one retry');
    assert.equal(f.gate.accepted - accepted, 2);
    assert.equal(client.stats.starts, 1);
  } finally {
    f.gate.mode = 'pass';
  }
});

test('the default policy retries transient SSH errors with bounded, growing backoff, and never a rejected key', () => {
  const policy = backoffReconnectPolicy({ random: () => 0.999 });
  const lost = new ConnectionLostError('x');
  assert.ok((policy.retryDelayMs(1, lost) ?? -1) >= 0);
  assert.ok((policy.retryDelayMs(2, new BastionUnreachableError('h', 1, 'down')) ?? -1) > (policy.retryDelayMs(1, lost) ?? 0));
  assert.notEqual(policy.retryDelayMs(1, new ChannelRefusedError('exec')), undefined);
  assert.notEqual(policy.retryDelayMs(7, lost), undefined);
  assert.equal(policy.retryDelayMs(8, lost), undefined, 'at most 8 attempts');
  assert.ok(policy.delayMs(30) <= 2_000, 'capped at 2 s');
  assert.equal(policy.retryDelayMs(1, new AuthRejectedError('h', 1)), undefined);
  assert.equal(policy.retryDelayMs(1, new AgentStartError('no python')), undefined);
  assert.equal(policy.retryDelayMs(1, new SshAbortedError('x')), undefined);
});

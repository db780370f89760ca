/**
 * Malformed and random frames against the client end of the agent protocol (AgentClient /
 * AgentConnection) fed by a scripted fake agent: every malformed case fails the stream with
 * AgentProtocolError, tells the agent (ERROR frame) and closes the transport, and the client stays
 * usable; a huge length is refused from its header (never allocated); random bytes never throw out
 * of the client. The pod's end (pod/agent.py): fuzz-agent.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { AgentClient, AgentProtocolError, agentScriptFrom, type AgentScript } from '../../../src/kgpu/agent';
import { encodeFrame, encodeJson, FrameDecoder, FrameType, MAX_WINDOW, u32, type Frame } from '../../../src/kgpu/agent/protocol';
import type { ExecStream, ExitStatus } from '../../../src/kgpu/ssh/ssh-exec';
import { ConnectionLostError } from '../../../src/kgpu/ssh/ssh-errors';
import { waitFor } from './agent-fixture';
import { frameHeader, randomParts } from './fuzz-frames';
import { prng } from './prng';

// ---------------------------------------------------------------- the client, against a scripted agent

/** A transport standing in for the exec channel; the test plays the agent. */
class FakeAgent {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdin = new PassThrough();
  readonly received: Frame[] = [];
  closed = false;
  private rejectDone!: (e: Error) => void;
  readonly done = new Promise<ExitStatus>((_res, rej) => {
    this.rejectDone = rej;
  });
  private readonly decoder = new FrameDecoder();
  /** Answer OPEN with OPEN_OK (window) automatically. */
  autoOpen = true;

  constructor() {
    this.done.catch(() => undefined);
    this.stdin.on('data', (b: Buffer) => {
      for (const f of this.decoder.push(b)) {
        this.received.push(f);
        if (f.type === FrameType.OPEN && this.autoOpen)
          this.send(encodeFrame(FrameType.OPEN_OK, f.stream, Buffer.concat([u32(1 << 18), Buffer.from('{}')])));
      }
    });
    this.stdout.write('KGPU-AGENT-READY 1\n');
    this.send(encodeJson(FrameType.HELLO, 0, { proto: 1, pid: 42, python: '3.8.0', hash: 'fake' }));
  }

  send(b: Buffer): void {
    if (!this.closed) this.stdout.write(b);
  }

  exec(): ExecStream {
    return {
      stdout: this.stdout,
      stderr: this.stderr,
      stdin: this.stdin,
      done: this.done,
      close: () => {
        if (this.closed) return;
        this.closed = true;
        this.rejectDone(new ConnectionLostError('the fake agent'));
      },
    };
  }
}

const fakeScript: AgentScript = agentScriptFrom(Buffer.from('# fake\n'));

function fakeClient(): { client: AgentClient; agents: FakeAgent[] } {
  const agents: FakeAgent[] = [];
  const client = new AgentClient({
    exec: async () => {
      const a = new FakeAgent();
      agents.push(a);
      return a.exec();
    },
    script: async () => fakeScript,
  });
  return { client, agents };
}

/** Open a stream, inject `bytes` as the agent; the stream must fail with AgentProtocolError matching `why`. */
async function clientRefuses(bytes: (id: number) => Buffer[], why: RegExp): Promise<void> {
  const { client, agents } = fakeClient();
  try {
    const s = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port: 80 });
    const failed = once(s, 'error');
    s.resume();
    for (const b of bytes(s.id)) agents[0].send(b);
    const [err] = (await failed) as Error[];
    assert.ok(err instanceof AgentProtocolError, String(err));
    assert.match(err.message, why);
    assert.match(err.message, /starts again on the next use/);
    const error = agents[0].received.find((f) => f.type === FrameType.ERROR);
    assert.ok(error, 'the agent was told why');
    assert.ok(agents[0].closed, 'the transport was closed');
    // The client stays usable: the next open starts a new agent.
    await waitFor('the client to be idle', () => client.state === 'idle');
    const again = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port: 80 });
    assert.equal(agents.length, 2);
    again.destroy();
  } finally {
    client.dispose();
  }
}

test('the client: each malformed frame from the agent fails its streams with AgentProtocolError, tells the agent, and restarts on the next use', async () => {
  const cases: [string, (id: number) => Buffer[], RegExp][] = [
    ['a huge length', (id) => [frameHeader(FrameType.DATA, id, 0xffffffff)], /4294967295 bytes exceeds/],
    ['an unknown type', () => [frameHeader(0x42, 0, 0)], /unknown frame type 0x42/],
    ['a frame for a stream never opened', (id) => [encodeFrame(FrameType.DATA, id + 10, Buffer.from('x'))], /never opened/],
    [
      'DATA beyond the window',
      (id) => [encodeFrame(FrameType.DATA, id, Buffer.alloc(200_000)), encodeFrame(FrameType.DATA, id, Buffer.alloc(100_000))],
      /against a window of 262144/,
    ],
    ['WINDOW overflowing the credit', (id) => [encodeFrame(FrameType.WINDOW, id, u32(MAX_WINDOW))], /overflows the credit/],
    ['WINDOW of 0', (id) => [encodeFrame(FrameType.WINDOW, id, u32(0))], /WINDOW of 0/],
    ['OPEN_OK twice', (id) => [encodeFrame(FrameType.OPEN_OK, id, u32(10))], /already open/],
    ['EOF twice', (id) => [encodeFrame(FrameType.EOF, id), encodeFrame(FrameType.EOF, id)], /EOF twice/],
    ['DATA after EOF', (id) => [encodeFrame(FrameType.EOF, id), encodeFrame(FrameType.DATA, id, Buffer.from('x'))], /data after EOF/],
    ['STDERR on a TCP stream', (id) => [encodeFrame(FrameType.STDERR, id, Buffer.from('x'))], /not a process/],
    ['EXIT on a TCP stream', (id) => [encodeJson(FrameType.EXIT, id, { code: 0 })], /not an open process/],
    ['OPEN from the agent', (id) => [encodeJson(FrameType.OPEN, id, {}, u32(1))], /unexpected OPEN frame/],
    ['BLOCKED with a payload', (id) => [encodeFrame(FrameType.BLOCKED, id, Buffer.from('x'))], /BLOCKED with a payload/],
    ['malformed JSON', (id) => [encodeFrame(FrameType.RESET, id, Buffer.from('{'))], /RESET: the payload is not JSON/],
    ['DATA on stream 0', () => [encodeFrame(FrameType.DATA, 0, Buffer.from('x'))], /DATA frame on stream 0/],
    [
      'an ERROR from the agent',
      () => [encodeJson(FrameType.ERROR, 0, { code: 'protocol', message: 'bad things' })],
      /the agent reported: bad things/,
    ],
  ];
  for (const [name, bytes, why] of cases) {
    await clientRefuses(bytes, why).catch((e: Error) => {
      e.message = `${name}: ${e.message}`;
      throw e;
    });
  }
});

test('the client: frames for a stream it reset are ignored (they were on their way)', async () => {
  const { client, agents } = fakeClient();
  try {
    const a = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port: 80 });
    const b = await client.openStream({ kind: 'tcp', host: '127.0.0.1', port: 81 });
    a.destroy();
    await waitFor('the RESET to reach the agent', () => agents[0].received.some((f) => f.type === FrameType.RESET && f.stream === a.id));
    agents[0].send(encodeFrame(FrameType.DATA, a.id, Buffer.from('late')));
    agents[0].send(encodeFrame(FrameType.CLOSE, a.id));
    agents[0].send(encodeFrame(FrameType.DATA, b.id, Buffer.from('fine')));
    const [chunk] = (await once(b, 'data')) as Buffer[];
    assert.equal(chunk.toString(), 'fine');
    assert.equal(client.state, 'running');
  } finally {
    client.dispose();
  }
});

test('the client: a process whose output ends before its EXIT arrives (the racing order) is read to the end, then gives its exit status', async () => {
  // The agent sends EOF as soon as the process's stdout is drained, EXIT and CLOSE once it has
  // exited: under load they come in separate reads, and `for await` ends in between. Reading a
  // process's output to its end is not a cancellation: the stream must not be reset (which lost
  // the exit status to an AbortError), it closes stdin (EOF) and waits for EXIT and CLOSE.
  const { client, agents } = fakeClient();
  try {
    for (let i = 0; i < 20; i++) {
      const s = await client.openStream({ kind: 'process', argv: ['sh', '-c', 'echo a; echo b >&2'], stderr: 'merge' });
      agents[0].send(encodeFrame(FrameType.DATA, s.id, Buffer.from('a\nb\n')));
      agents[0].send(encodeFrame(FrameType.EOF, s.id));
      const chunks: Buffer[] = [];
      for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
      assert.equal(Buffer.concat(chunks).toString(), 'a\nb\n');
      agents[0].send(encodeJson(FrameType.EXIT, s.id, { code: i % 3 }));
      agents[0].send(encodeFrame(FrameType.CLOSE, s.id));
      assert.deepEqual(await s.exit, { exitCode: i % 3, signal: null });
      await waitFor('the stdin EOF to reach the agent', () =>
        agents[0].received.some((f) => f.type === FrameType.EOF && f.stream === s.id),
      );
      assert.ok(!agents[0].received.some((f) => f.type === FrameType.RESET && f.stream === s.id), 'not reset');
      if (!s.destroyed) await once(s, 'close');
      assert.equal(s.failure, undefined);
    }
    // Leaving the loop early still cancels: the stream is reset and the exit is not awaited forever.
    const s = await client.openStream({ kind: 'process', argv: ['yes'] });
    agents[0].send(encodeFrame(FrameType.DATA, s.id, Buffer.from('y\n')));
    for await (const c of s as AsyncIterable<Buffer>) {
      assert.equal(c.toString(), 'y\n');
      break;
    }
    await assert.rejects(s.exit as Promise<unknown>);
    await waitFor('the RESET to reach the agent', () => agents[0].received.some((f) => f.type === FrameType.RESET && f.stream === s.id));
  } finally {
    client.dispose();
  }
});

test('the client: random bytes from the agent never throw out of it; streams end with AgentProtocolError or stay usable', async () => {
  const rnd = prng(7);
  for (let i = 0; i < 200; i++) {
    const { client, agents } = fakeClient();
    try {
      const s = await client.openStream({ kind: 'process', argv: ['x'] });
      const errors: Error[] = [];
      s.on('error', (e: Error) => errors.push(e));
      s.stderr?.on('error', () => undefined);
      s.resume();
      s.stderr?.resume();
      const stream = (): number => (rnd() < 0.7 ? s.id : Math.floor(rnd() * 3));
      for (const part of randomParts(rnd, { maxParts: 8, frameShare: 0.5, maxPayload: 48, maxJunk: 30, stream })) agents[0].send(part);
      // Let the client process what was sent (the PassThrough delivers asynchronously).
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      for (const e of errors) assert.ok(e instanceof AgentProtocolError || e.name === 'AgentStreamResetError', `case ${i}: ${String(e)}`);
    } finally {
      client.dispose();
    }
  }
});

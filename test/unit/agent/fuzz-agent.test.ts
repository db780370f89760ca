/**
 * Malformed and random frames against the pod end of the agent protocol, the real pod/agent.py (real
 * Python, run here as a child process; then once in a pod): every malformed case ends it with an
 * ERROR frame saying why and exit status 2, never a Python traceback; a huge length is refused
 * from its header (never allocated); random bytes end it with an ERROR or (if they happen to
 * parse) at EOF. The client's end: fuzz-client.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  AgentProtocolError,
  agentScriptFrom,
  agentCommand,
  loadAgentScript,
  type AgentScript,
  type AgentStream,
} from '../../../src/kgpu/agent';
import { encodeFrame, encodeJson, FrameDecoder, FrameType, MAX_WINDOW, u32, type Frame } from '../../../src/kgpu/agent/protocol';
import { execStream } from '../../../src/kgpu/ssh/ssh-exec';
import { realPython } from '../../sim/pods';
import { startAgentFixture, waitFor, type AgentFixture } from './agent-fixture';
import { frameHeader, randomParts } from './fuzz-frames';
import { prng } from './prng';

const AGENT = path.join(__dirname, '..', '..', '..', 'pod', 'agent.py');
const HELLO = encodeJson(FrameType.HELLO, 0, { proto: 1 });
const open = (id: number, target: unknown, window = 256 * 1024): Buffer => encodeJson(FrameType.OPEN, id, target, u32(window));

// ---------------------------------------------------------------- the Python agent, locally

interface LocalAgent {
  child: ChildProcessWithoutNullStreams;
  frames: Frame[];
  stderr(): string;
  /** Resolves with the exit code once the agent has exited. */
  exited: Promise<number | null>;
  /** Resolves once a frame matching `pred` arrived. */
  frame(pred: (f: Frame) => boolean): Promise<Frame>;
}

function startLocalAgent(): LocalAgent {
  const child = spawn(realPython().exe, ['-I', '-S', AGENT, 'local'], { stdio: 'pipe' });
  const frames: Frame[] = [];
  const waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  const decoder = new FrameDecoder();
  let pre = Buffer.alloc(0);
  let ready = false;
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin.on('error', () => undefined);
  child.stdout.on('data', (b: Buffer) => {
    if (!ready) {
      pre = Buffer.concat([pre, b]);
      const nl = pre.indexOf(0x0a);
      if (nl < 0) return;
      assert.equal(pre.subarray(0, nl).toString(), 'KGPU-AGENT-READY 1');
      ready = true;
      b = pre.subarray(nl + 1);
    }
    for (const f of decoder.push(b)) {
      frames.push(f);
      for (const w of [...waiters]) {
        if (w.pred(f)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    frames,
    stderr: () => err,
    exited,
    frame: (pred) => {
      const seen = frames.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

/** Feed `input` after the HELLO exchange; the agent must end with an ERROR frame matching `why` and exit 2. */
async function agentRefuses(input: Buffer | Buffer[], why: RegExp, options: { hello?: boolean } = {}): Promise<void> {
  const a = startLocalAgent();
  await a.frame((f) => f.type === FrameType.HELLO);
  if (options.hello !== false) a.child.stdin.write(HELLO);
  // One write (under PIPE_BUF: atomic), so the agent parses every frame in one read — before, say,
  // the connect of an OPEN it contains has failed and taken the stream away.
  a.child.stdin.write(Buffer.concat(Array.isArray(input) ? input : [input]));
  // stdin stays open: the agent must decide from what it got (bounded, so a miss fails, not hangs).
  const timer = setTimeout(() => a.child.kill('SIGKILL'), 30_000);
  const code = await a.exited;
  clearTimeout(timer);
  assert.notEqual(a.child.signalCode, 'SIGKILL', `the agent did not end by itself (frames: ${a.frames.map((f) => f.type).join(',')})`);
  const error = a.frames.find((f) => f.type === FrameType.ERROR);
  assert.ok(error, `an ERROR frame (got ${a.frames.map((f) => f.type).join(',')}; stderr ${a.stderr()})`);
  const msg = JSON.parse(error.payload.toString()) as { code: string; message: string };
  assert.equal(msg.code, 'protocol');
  assert.match(msg.message, why);
  assert.equal(code, 2);
  assert.doesNotMatch(a.stderr(), /Traceback/);
}

const dataFrame = (id: number, n: number): Buffer => encodeFrame(FrameType.DATA, id, Buffer.alloc(n, 0x61));

test('the Python agent: each malformed frame ends it with an ERROR frame saying why, exit 2, no traceback', async () => {
  const tcp = { t: 'tcp', host: '127.0.0.1', port: 1 };
  const cases: [string, Buffer | Buffer[], RegExp, { hello?: boolean }?][] = [
    [
      'a huge length (decided from the header; nothing allocated)',
      frameHeader(FrameType.DATA, 1, 0xffffffff),
      /4294967295 bytes exceeds the 262144-byte limit/,
    ],
    ['just over the limit', frameHeader(FrameType.OPEN, 1, 256 * 1024 + 1), /exceeds/],
    ['an unknown type', frameHeader(0x7f, 0, 0), /unknown frame type 0x7f/],
    ['type 0', frameHeader(0, 0, 0), /unknown frame type 0x00/],
    ['a frame for a stream never opened', dataFrame(5, 3), /stream 5, which was never opened/],
    ['a WINDOW for a stream never opened', encodeFrame(FrameType.WINDOW, 9, u32(1)), /never opened/],
    ['OPEN reusing an id', [open(3, { t: 'proc', argv: ['true'] }), open(3, { t: 'proc', argv: ['true'] })], /reuses stream id 3/],
    ['OPEN with a lower id', [open(4, tcp), open(2, tcp)], /reuses stream id 2/],
    ['OPEN without JSON', encodeFrame(FrameType.OPEN, 1, Buffer.concat([u32(1000), Buffer.from('{nope')])), /not UTF-8 JSON/],
    ['OPEN with a JSON array', encodeFrame(FrameType.OPEN, 1, Buffer.concat([u32(1000), Buffer.from('[1]')])), /not a JSON object/],
    ['OPEN too short', encodeFrame(FrameType.OPEN, 1, Buffer.from([1])), /too short/],
    ['OPEN with window 0', open(1, tcp, 0), /window of 0/],
    ['OPEN with a window over 2^31-1', open(1, tcp, 0x80000000), /window of 2147483648/],
    ['DATA before the open completed (no credit yet)', [open(1, tcp), dataFrame(1, 1)], /exceed the window of 0/],
    ['WINDOW overflowing the credit', [open(1, tcp), encodeFrame(FrameType.WINDOW, 1, u32(MAX_WINDOW))], /overflows the credit/],
    ['WINDOW of 0', [open(1, tcp), encodeFrame(FrameType.WINDOW, 1, u32(0))], /WINDOW of 0/],
    ['WINDOW of 3 bytes', [open(1, tcp), encodeFrame(FrameType.WINDOW, 1, Buffer.alloc(3))], /WINDOW payload of 3 bytes/],
    ['EOF twice', [open(1, tcp), encodeFrame(FrameType.EOF, 1), encodeFrame(FrameType.EOF, 1)], /EOF twice/],
    ['DATA after EOF', [open(1, tcp), encodeFrame(FrameType.EOF, 1), dataFrame(1, 1)], /DATA after EOF/],
    ['OPEN_OK from the client', [open(1, tcp), encodeFrame(FrameType.OPEN_OK, 1, u32(1))], /unexpected OPEN_OK/],
    ['BLOCKED from the client', [open(1, tcp), encodeFrame(FrameType.BLOCKED, 1)], /unexpected BLOCKED/],
    ['DATA on stream 0', dataFrame(0, 1), /DATA frame on stream 0/],
    ['a PING too long', encodeFrame(FrameType.PING, 0, Buffer.alloc(65)), /PING payload of 65 bytes/],
    ['no HELLO first', open(1, tcp), /first frame must be HELLO, got OPEN/, { hello: false }],
    [
      'HELLO of another protocol version',
      encodeJson(FrameType.HELLO, 0, { proto: 99 }),
      /unsupported protocol version 99/,
      { hello: false },
    ],
  ];
  for (const [name, input, why, opts] of cases) {
    await agentRefuses(input, why, opts).catch((e: Error) => {
      e.message = `${name}: ${e.message}`;
      throw e;
    });
  }
});

test('the Python agent: a truncated frame then EOF is a clean exit; PING is answered; frames for closed streams are ignored', async () => {
  const a = startLocalAgent();
  await a.frame((f) => f.type === FrameType.HELLO);
  a.child.stdin.write(HELLO);
  a.child.stdin.write(encodeFrame(FrameType.PING, 0, Buffer.from('abc')));
  const pong = await a.frame((f) => f.type === FrameType.PONG);
  assert.equal(pong.payload.toString(), 'abc');
  // A stream that fails to open is gone: late frames for it are not an error.
  a.child.stdin.write(open(1, { t: 'tcp', host: '127.0.0.1', port: 1 }));
  await a.frame((f) => f.type === FrameType.OPEN_FAIL && f.stream === 1);
  a.child.stdin.write(encodeFrame(FrameType.WINDOW, 1, u32(5)));
  a.child.stdin.write(encodeFrame(FrameType.RESET, 1));
  a.child.stdin.write(encodeFrame(FrameType.PING, 0, Buffer.from('after')));
  await a.frame((f) => f.type === FrameType.PONG && f.payload.toString() === 'after');
  a.child.stdin.end(Buffer.from([FrameType.DATA, 0, 0])); // a truncated header, then EOF
  assert.equal(await a.exited, 0);
  assert.equal(
    a.frames.some((f) => f.type === FrameType.ERROR),
    false,
  );
  assert.equal(a.stderr(), '');
});

test('the Python agent: random bytes after HELLO never crash it (ERROR, or a clean exit at EOF)', async () => {
  const rnd = prng(19);
  for (let i = 0; i < 24; i++) {
    const a = startLocalAgent();
    await a.frame((f) => f.type === FrameType.HELLO);
    a.child.stdin.write(HELLO);
    const parts = randomParts(rnd, { maxParts: 6, frameShare: 0.4, maxPayload: 64, maxJunk: 40, stream: () => Math.floor(rnd() * 4) });
    a.child.stdin.end(Buffer.concat(parts));
    const code = await a.exited;
    assert.ok(code === 0 || code === 2, `case ${i}: exit ${code}; stderr ${a.stderr()}`);
    assert.doesNotMatch(a.stderr(), /Traceback/, `case ${i}`);
    if (code === 2)
      assert.ok(
        a.frames.some((f) => f.type === FrameType.ERROR),
        `case ${i}: exit 2 comes with an ERROR frame`,
      );
  }
});

// ---------------------------------------------------------------- in a pod

let f: AgentFixture;
let script: AgentScript;
before(async () => {
  f = await startAgentFixture();
  script = await loadAgentScript();
});
after(async () => {
  await f?.stop();
});

test('in a pod: the placed agent refuses a huge length over the real exec channel; a client whose agent misbehaves recovers', async () => {
  // The real exec, as AgentClient opens it, then a hostile frame header.
  const connector = f.connector();
  const s = await execStream(connector, agentCommand(script));
  let out = Buffer.alloc(0);
  s.stdout.on('data', (b: Buffer) => {
    out = Buffer.concat([out, b]);
    if (out.toString('latin1').startsWith('KGPU-AGENT-SEND')) {
      s.stdin.write(script.source);
      out = out.subarray(out.indexOf(0x0a) + 1);
    }
  });
  await waitFor('the agent to be ready', () => out.includes('KGPU-AGENT-READY 1\n'));
  s.stdin.write(HELLO);
  s.stdin.write(Buffer.from([FrameType.DATA, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]));
  const status = await s.done;
  assert.deepEqual(status, { exitCode: 2, signal: null });
  assert.match(out.toString('latin1'), /"code":"protocol","message":"a DATA frame of 4294967295 bytes exceeds/);

  // An agent that sends garbage after its HELLO: the client's opens fail with AgentProtocolError,
  // then the next start (a well-behaved agent) works.
  const bad = agentScriptFrom(
    Buffer.from(
      script.source
        .toString()
        .replace('self.send(HELLO, 0, jdump(hello))', 'self.send(HELLO, 0, jdump(hello))\n        self.send(0x66, 0, b"")'),
    ),
  );
  let calls = 0;
  const client = f.client({ script: async () => (calls++ === 0 ? bad : script) });
  await assert.rejects(client.openStream({ kind: 'process', argv: ['true'] }), AgentProtocolError);
  const ok: AgentStream = await client.openStream({ kind: 'process', argv: ['echo', 'recovered'] });
  const chunks: Buffer[] = [];
  for await (const c of ok as AsyncIterable<Buffer>) chunks.push(c);
  assert.equal(Buffer.concat(chunks).toString(), 'recovered\n');
  assert.equal(calls, 2, 'the bad agent, then a good one');
  assert.equal(client.stats.starts, 1, 'only the good one counts as started');
});

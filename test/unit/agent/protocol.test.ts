/**
 * The agent's framing (src/kgpu/agent/protocol.ts) without a pod: encode/decode round trips at
 * every split, the decoder's refusals decided from the header alone (nothing allocated for a
 * huge length), the placement command, and that pod/agent.py stays Python 3.8 syntax.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { agentCommand, agentScriptFrom, AgentProtocolError, findExtensionRoot, loadAgentScript } from '../../../src/kgpu/agent';
import { encodeFrame, FrameDecoder, FrameType, HEADER_BYTES, MAX_PAYLOAD, type Frame } from '../../../src/kgpu/agent/protocol';
import { realPython } from '../../sim/pods';
import { sha256 } from './agent-fixture';
import { prng } from './prng';

const root = path.join(__dirname, '..', '..', '..');

test('frames round-trip through the decoder whatever the chunking', () => {
  const rnd = prng(1);
  const types = Object.values(FrameType);
  const frames: Frame[] = [];
  for (let i = 0; i < 300; i++) {
    const size = rnd() < 0.1 ? Math.floor(rnd() * MAX_PAYLOAD) : Math.floor(rnd() * 300);
    frames.push({ type: types[Math.floor(rnd() * types.length)], stream: Math.floor(rnd() * 2 ** 32), payload: randomBytes(size) });
  }
  frames.push({ type: FrameType.DATA, stream: 1, payload: randomBytes(MAX_PAYLOAD) });
  const all = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.stream, f.payload)));
  const smallEnd = frames.slice(0, 40).reduce((n, f) => n + HEADER_BYTES + f.payload.length, 0);
  for (const split of [1, 7, 9, 10, 4096, 65536, all.length, -1]) {
    // Byte by byte over the first 40 frames only (a 256 KiB frame in 1-byte chunks is slow to build).
    const wire = split < 9 ? all.subarray(0, smallEnd) : all;
    const count = split < 9 ? 40 : frames.length;
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (let off = 0; off < wire.length;) {
      const n = split > 0 ? split : 1 + Math.floor(rnd() * 100_000);
      out.push(...d.push(wire.subarray(off, off + n)));
      off += n;
    }
    assert.equal(out.length, count, `split ${split}`);
    for (const [i, f] of out.entries()) {
      assert.equal(f.type, frames[i].type);
      assert.equal(f.stream, frames[i].stream);
      assert.ok(f.payload.equals(frames[i].payload), `frame ${i} at split ${split}`);
    }
    assert.equal(d.pending, 0);
  }
});

test('the header is 9 bytes: type, stream id, length, big-endian', () => {
  assert.deepEqual([...encodeFrame(FrameType.WINDOW, 0x01020304, Buffer.from([0xaa, 0xbb]))], [0x07, 1, 2, 3, 4, 0, 0, 0, 2, 0xaa, 0xbb]);
  assert.equal(encodeFrame(FrameType.EOF, 1).length, HEADER_BYTES);
  assert.throws(() => encodeFrame(FrameType.DATA, 1, Buffer.alloc(MAX_PAYLOAD + 1)), RangeError);
});

test('a huge length or an unknown type is refused from the header alone; the decoder stays failed', () => {
  const huge = Buffer.from([FrameType.DATA, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
  const d = new FrameDecoder();
  assert.throws(
    () => d.push(huge),
    (e: unknown) => e instanceof AgentProtocolError && /4294967295 bytes exceeds the 262144-byte limit/.test(e.message),
  );
  assert.ok(d.pending <= HEADER_BYTES, 'nothing buffered beyond the header');
  assert.throws(() => d.push(encodeFrame(FrameType.PING, 0)), AgentProtocolError);

  const just = new FrameDecoder();
  const over = Buffer.alloc(HEADER_BYTES);
  over.writeUInt8(FrameType.DATA, 0);
  over.writeUInt32BE(MAX_PAYLOAD + 1, 5);
  assert.throws(() => just.push(over), AgentProtocolError);
  const ok = new FrameDecoder();
  const at = Buffer.from(over);
  at.writeUInt32BE(MAX_PAYLOAD, 5);
  assert.deepEqual(ok.push(at), [], 'exactly the limit is fine (waits for the payload)');

  for (const t of [0x00, 0x10, 0x7f, 0xff]) {
    const u = new FrameDecoder();
    assert.throws(() => u.push(Buffer.from([t, 0, 0, 0, 0, 0, 0, 0, 0])), /unknown frame type/);
  }
  // A truncated header is just waited for.
  const t = new FrameDecoder();
  assert.deepEqual(t.push(Buffer.from([FrameType.DATA, 0, 0])), []);
  assert.equal(t.pending, 3);
});

test("the placement command: named by the content hash, reads exactly the program's size, python3 else python, never kgpu.python", async () => {
  const script = await loadAgentScript();
  assert.equal(script.source.toString(), fs.readFileSync(path.join(root, 'pod', 'agent.py'), 'utf8'));
  assert.equal(script.hash, sha256(script.source).slice(0, 16));
  const cmd = agentCommand(script);
  assert.ok(cmd.includes(`agent-${script.hash}.py`));
  assert.ok(cmd.includes(`head -c ${script.source.length} `));
  assert.ok(cmd.includes('command -v python3 || command -v python'));
  assert.ok(cmd.includes('/tmp/kgpu-$(id -u)'));
  assert.ok(!cmd.includes('/workspace'));
  const other = agentScriptFrom(Buffer.from('print(1)\n'));
  assert.notEqual(other.hash, script.hash);
  // The command is valid sh.
  const r = spawnSync('sh', ['-n', '-c', cmd]);
  assert.equal(r.status, 0, r.stderr.toString());
});

test('the agent is found relative to the extension root from the sources and from a bundle in dist/', () => {
  assert.equal(findExtensionRoot(path.join(root, 'src', 'kgpu', 'agent')), root);
  assert.equal(findExtensionRoot(path.join(root, 'dist')), root);
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-no-agent-'));
  try {
    assert.throws(() => findExtensionRoot(empty), /not found/);
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

test('pod/agent.py is Python 3.8 syntax and compiles', () => {
  const check = 'import ast,sys; src=open(sys.argv[1]).read(); ast.parse(src, feature_version=(3, 8)); compile(src, sys.argv[1], "exec")';
  const r = spawnSync(realPython().exe, ['-c', check, path.join(root, 'pod', 'agent.py')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

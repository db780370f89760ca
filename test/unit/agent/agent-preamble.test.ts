/**
 * The text before the agent's frames (src/kgpu/agent/agent-preamble.ts), fed in chunks as stdout
 * delivers it: a login shell's noise is skipped, the program is sent when asked for with the right
 * size, an ERR line or a flood of text fails the start, and the bytes after READY are the frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentStartError } from '../../../src/kgpu/agent';
import { AgentPreamble } from '../../../src/kgpu/agent/agent-preamble';

const script = { source: Buffer.from('print("agent")\n'), hash: '0123456789abcdef' };

function preamble(): { p: AgentPreamble; sent: () => number } {
  let sent = 0;
  return { p: new AgentPreamble(script, () => sent++), sent: () => sent };
}

test('noise is skipped, SEND (split over chunks) sends the program once, READY returns the bytes after it', () => {
  const { p, sent } = preamble();
  assert.equal(p.push(Buffer.from('Welcome to the pod\r\nmotd line\nKGPU-AGENT-SE')), undefined);
  assert.equal(sent(), 0);
  assert.equal(p.push(Buffer.from(`ND ${script.source.length}\n`)), undefined);
  assert.equal(sent(), 1);
  const rest = p.push(Buffer.from('KGPU-AGENT-READY 0123456789abcdef\n\x00\x01frames'));
  assert.deepEqual(rest, Buffer.from('\x00\x01frames'));
  assert.equal(sent(), 1);
});

test('SEND with the wrong size, an ERR line and a flood of text without READY each fail the start', () => {
  assert.throws(
    () => preamble().p.push(Buffer.from('KGPU-AGENT-SEND 3\n')),
    (e: unknown) => e instanceof AgentStartError && /asked for 3 bytes/.test(e.message),
  );
  assert.throws(
    () => preamble().p.push(Buffer.from('KGPU-AGENT-ERR no-python python3 not found\n')),
    (e: unknown) => e instanceof AgentStartError && /python3 not found \(no-python\)/.test(e.message) && /Python ≥ 3\.8/.test(e.message),
  );
  const { p } = preamble();
  const line = Buffer.from('x'.repeat(1023) + '\n');
  assert.throws(
    () => {
      for (let i = 0; i < 100; i++) p.push(line);
    },
    (e: unknown) => e instanceof AgentStartError && /printed too much/.test(e.message),
  );
  assert.throws(() => preamble().p.push(Buffer.alloc(70 * 1024, 0x41)), /printed too much/);
});

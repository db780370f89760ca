/**
 * CellOutputs: a cell's outputs from the kernel's messages as a local Jupyter front end builds
 * them (the records here are what pod/kernel_bridge.py forwards; kernel.test.ts checks them
 * against a real kernel).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendStreamText, CellOutputs, displayStreamText, type KernelRecord } from '../../../src/kgpu/notebook';

const io = (type: string, content: Record<string, unknown>): KernelRecord => ({ seq: 1, ch: 'iopub', type, parent: 'p', content });
const out = (name: string, text: string): KernelRecord => io('stream', { name, text });

test('carriage returns overwrite the line (also across chunks), backspaces erase, newlines keep', () => {
  assert.equal(appendStreamText('', 'a\rb'), 'b');
  assert.equal(appendStreamText('done\n 10%', '\r 20%'), 'done\n 20%');
  assert.equal(appendStreamText('x\r', ''), 'x\r', 'a trailing \\r waits for what follows');
  assert.equal(appendStreamText('x\r', 'y'), 'y');
  assert.equal(appendStreamText('', 'ab\bc'), 'ac');
  assert.equal(appendStreamText('', 'a\r\nb'), 'a\r\nb', 'a Windows line end is a line end');
  assert.equal(displayStreamText('50%\r'), '50%');
});

test('streams merge per name; display data, results and errors keep their order', () => {
  const c = new CellOutputs();
  c.apply(out('stdout', 'a'));
  c.apply(out('stdout', 'b\n'));
  c.apply(out('stderr', 'w\n'));
  c.apply(io('display_data', { data: { 'text/html': '<b>x</b>' }, metadata: {}, transient: { display_id: 'd1' } }));
  c.apply(io('execute_result', { data: { 'text/plain': '2' }, metadata: {}, execution_count: 3 }));
  c.apply(io('error', { ename: 'E', evalue: 'v', traceback: ['t1', 't2'] }));
  assert.deepEqual(c.outputs, [
    { kind: 'stream', name: 'stdout', text: 'ab\n' },
    { kind: 'stream', name: 'stderr', text: 'w\n' },
    { kind: 'data', data: { 'text/html': '<b>x</b>' }, metadata: {}, displayId: 'd1' },
    { kind: 'data', data: { 'text/plain': '2' }, metadata: {}, displayId: undefined, executionCount: 3 },
    { kind: 'error', ename: 'E', evalue: 'v', traceback: ['t1', 't2'] },
  ]);
  assert.equal(c.executionCount, 3);
  assert.equal(
    c.apply(io('update_display_data', { data: { 'text/html': '<i>y</i>' }, metadata: {}, transient: { display_id: 'd1' } })),
    true,
  );
  assert.deepEqual(c.outputs[2], { kind: 'data', data: { 'text/html': '<i>y</i>' }, metadata: {}, displayId: 'd1' });
});

test('clear_output clears now, or with wait just before the next output', () => {
  const c = new CellOutputs();
  c.apply(out('stdout', 'a\n'));
  assert.equal(c.apply(io('clear_output', { wait: true })), false);
  assert.equal(c.outputs.length, 1, 'kept until something replaces it');
  c.apply(out('stdout', 'b\n'));
  assert.deepEqual(c.outputs, [{ kind: 'stream', name: 'stdout', text: 'b\n' }]);
  c.apply(io('clear_output', { wait: false }));
  assert.deepEqual(c.outputs, []);
});

test('100 000 printed lines: the stream text stays bounded (the tail, with the count of lines cut)', () => {
  const c = new CellOutputs(64 * 1024);
  for (let i = 0; i < 100_000; i++) c.apply(out('stdout', `line ${i}\n`));
  const o = c.outputs[0];
  assert.ok(o.kind === 'stream');
  assert.ok(o.text.length <= 64 * 1024, `bounded: ${o.text.length}`);
  assert.ok(o.text.endsWith('line 99999\n'));
  const m = /^\[kgpu: (\d+) earlier lines not shown\]\nline (\d+)\n/.exec(o.text);
  assert.ok(m, o.text.slice(0, 80));
  assert.equal(Number(m[1]), Number(m[2]), 'the count of lines cut is exact');
});

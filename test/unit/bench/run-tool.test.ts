/**
 * The bench's runTool facing a tool that exits without reading its stdin (scp did, on a fresh
 * machine: `npm run bench` died with an unhandled `write EPIPE`). It must reject with the tool's
 * own error and leave the process running — an unhandled 'error' here would fail the test file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTool } from '../../bench/measure';

// Far above a pipe's buffer (64 KiB, at most 1 MiB on Linux): the write cannot finish before the tool is gone.
const big = Buffer.alloc(16 * 1024 * 1024, 0x61);

test('a tool that fails without reading a large stdin: its own error (exit code, stderr), no crash', async () => {
  await assert.rejects(runTool('sh', ['-c', 'echo "no input wanted" >&2; exit 3'], { stdin: big }), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^sh .*failed \(3\)/);
    assert.match(e.message, /before reading all of its 16777216-byte input \((EPIPE|ECONNRESET)\)/);
    assert.match(e.message, /no input wanted/);
    return true;
  });
});

test('a tool that exits 0 without reading its stdin is not a success: it says the input was not read', async () => {
  await assert.rejects(runTool('true', [], { stdin: big }), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^true exited before reading all of its 16777216-byte input \((EPIPE|ECONNRESET)\)/);
    return true;
  });
});

test('the run goes on: a tool that reads its stdin still works after those, byte for byte', async () => {
  const r = await runTool('wc', ['-c'], { stdin: big });
  assert.equal(r.stdout.toString().trim(), String(big.length));
  // An empty stdin closed on a tool that never reads it is no error.
  assert.equal((await runTool('sh', ['-c', 'exit 0'])).stdout.length, 0);
});

test('a tool that cannot be started says so', async () => {
  await assert.rejects(runTool('/nonexistent/kgpu-no-such-tool', [], { stdin: big }), /could not be started: .*ENOENT/);
});

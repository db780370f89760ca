/** util/: the one abortable delay, the bounded loop, cancellation and file hashing every layer uses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { delay, eachLimited } from '../../../../src/kgpu/util/async';
import { CancelledError, isCancelled } from '../../../../src/kgpu/util/cancelled';
import { sha256File } from '../../../../src/kgpu/util/hash';
import { KgpuAbortedError } from '../../../../src/kgpu/api/api-error';
import { abortableDelay } from '../../../../src/kgpu/api/retry';
import { ConnectionLostError, SshAbortedError, isTransientSshError } from '../../../../src/kgpu/ssh/ssh-errors';

test('delay: resolves, and leaves no abort listener behind on the signal', async () => {
  const ctrl = new AbortController();
  await delay(1, ctrl.signal);
  await delay(0, ctrl.signal);
  assert.equal(getEventListeners(ctrl.signal, 'abort').length, 0);
});

test("delay: an abort rejects at once with the caller's error (default CancelledError), before or during the wait", async () => {
  const before = new AbortController();
  before.abort();
  await assert.rejects(delay(10, before.signal), CancelledError);
  const during = new AbortController();
  const p = delay(60_000, during.signal, () => new SshAbortedError('The transfer'));
  during.abort();
  await assert.rejects(p, SshAbortedError);
  await assert.rejects(
    abortableDelay(60_000, before.signal, 'Renting'),
    (e) => e instanceof KgpuAbortedError && /Renting was cancelled/.test((e as Error).message),
  );
});

test('one cancellation vocabulary: isCancelled knows every layer’s cancellation and nothing else', () => {
  assert.ok(isCancelled(new CancelledError('x')));
  assert.ok(isCancelled(new KgpuAbortedError('x')), 'the REST layer');
  assert.ok(isCancelled(new SshAbortedError('x')), 'the SSH layer');
  assert.ok(isCancelled(Object.assign(new Error('platform'), { name: 'AbortError' })), "the platform's AbortError");
  assert.ok(!isCancelled(new ConnectionLostError('x')));
  assert.ok(!isCancelled('cancelled'));
  assert.ok(isTransientSshError(new ConnectionLostError('x')));
  assert.ok(!isTransientSshError(new SshAbortedError('x')), 'a cancellation is never retried');
});

test('eachLimited: at most `limit` at once, every item once; after a failure no new item starts', async () => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await eachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setImmediate(r));
    seen.push(n);
    running--;
  });
  assert.equal(most, 3);
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
  const started: number[] = [];
  await assert.rejects(
    eachLimited([1, 2, 3, 4, 5], 1, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(started, [1, 2]);
});

test('sha256File: the hex sha256 of the file', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kgpu-hash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'f.bin');
  const data = Buffer.alloc(3 * 1024 * 1024 + 7, 0x5a);
  writeFileSync(f, data);
  assert.equal(await sha256File(f), createHash('sha256').update(data).digest('hex'));
});

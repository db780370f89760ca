/**
 * A 1000-entry folder opens fast: READDIR with attributes (no stat per entry), and the listing and
 * stats the explorer/editor ask next come from the cache — proven by answering them while the
 * bastion is paused, not by timing. Timings go to the test diagnostics (goals live in the bench).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { FileKind } from '../../../../src/kgpu/fs/workspace-fs';
import { startWsFixture } from './workspace-fs-fixture';

test('1000-entry folder: cold and warm listing, stats of every entry from the listing', async (t) => {
  const f = await startWsFixture();
  t.after(() => f.stop());
  const dir = f.host('/workspace/many');
  fs.mkdirSync(dir);
  for (let i = 0; i < 1000; i++) {
    if (i % 10 === 0) fs.mkdirSync(`${dir}/d${String(i).padStart(4, '0')}`);
    else fs.writeFileSync(`${dir}/f${String(i).padStart(4, '0')}.txt`, String(i));
  }
  // A TTL far above the test's run time: what is asked again is answered from the cache however slow the machine is.
  const wfs = f.fs({ cacheTtlMs: 600_000 });
  const c0 = performance.now();
  const first = await wfs.readDirectory('/workspace/many'); // includes connecting and opening SFTP
  const c1 = performance.now();
  const other = f.fs({ cacheTtlMs: 600_000 });
  await other.stat('/workspace'); // connected, nothing about /workspace/many cached
  const u0 = performance.now();
  const uncached = await other.readDirectory('/workspace/many');
  const u1 = performance.now();
  // The pod is out of reach from here on: anything not served from memory would wait for it.
  f.sim.bastion.pause();
  t.after(() => f.sim.bastion.resume());
  const fromMemory = <T>(what: string, p: Promise<T>): Promise<T> =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${what} went to the pod (no answer within 15 s while the bastion is paused)`)), 15_000).unref(),
      ),
    ]);
  const w0 = performance.now();
  const warm = await fromMemory('the warm listing', wfs.readDirectory('/workspace/many'));
  const w1 = performance.now();
  const s0 = performance.now();
  const stats = await fromMemory('a stat after the listing', Promise.all(first.map(([n]) => wfs.stat(`/workspace/many/${n}`))));
  const s1 = performance.now();
  // The other instance's listing carried the attributes too: no stat per entry.
  const otherStats = await fromMemory(
    'a stat after the uncached listing',
    Promise.all(uncached.map(([n]) => other.stat(`/workspace/many/${n}`))),
  );
  f.sim.bastion.resume();

  assert.equal(first.length, 1000);
  assert.deepEqual(warm, first);
  assert.deepEqual(uncached.sort(), [...first].sort());
  assert.equal(first.filter(([, k]) => k === FileKind.Directory).length, 100);
  assert.equal(stats.filter((s) => s.type === FileKind.File).length, 900);
  assert.equal(otherStats.filter((s) => s.type === FileKind.Directory).length, 100);
  const ms = (a: number, b: number): string => `${(b - a).toFixed(1)} ms`;
  t.diagnostic(
    `1000 entries: cold incl. connect ${ms(c0, c1)}, cold listing ${ms(u0, u1)}, warm ${ms(w0, w1)}, 1000 stats after listing ${ms(s0, s1)}`,
  );
});

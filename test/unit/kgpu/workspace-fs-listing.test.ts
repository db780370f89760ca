/**
 * A 1000-entry folder opens fast: one READDIR round trip with attributes (no stat per entry), and
 * the stats the explorer/editor ask next come from the cache. Timings go to the test diagnostics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { FileKind } from '../../../src/kgpu/workspace-fs';
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
  const wfs = f.fs({ cacheTtlMs: 10_000 });
  const c0 = performance.now();
  const first = await wfs.readDirectory('/workspace/many'); // includes connecting and opening SFTP
  const c1 = performance.now();
  const other = f.fs({ cacheTtlMs: 10_000 });
  await other.stat('/workspace'); // connected, nothing about /workspace/many cached
  const u0 = performance.now();
  const uncached = await other.readDirectory('/workspace/many');
  const u1 = performance.now();
  const w0 = performance.now();
  const warm = await wfs.readDirectory('/workspace/many');
  const w1 = performance.now();
  const s0 = performance.now();
  const stats = await Promise.all(first.map(([n]) => wfs.stat(`/workspace/many/${n}`)));
  const s1 = performance.now();

  assert.equal(first.length, 1000);
  assert.deepEqual(warm, first);
  assert.deepEqual(uncached.sort(), [...first].sort());
  assert.equal(first.filter(([, k]) => k === FileKind.Directory).length, 100);
  assert.equal(stats.filter((s) => s.type === FileKind.File).length, 900);
  const ms = (a: number, b: number): string => `${(b - a).toFixed(1)} ms`;
  t.diagnostic(`1000 entries: cold incl. connect ${ms(c0, c1)}, cold listing ${ms(u0, u1)}, warm ${ms(w0, w1)}, 1000 stats after listing ${ms(s0, s1)}`);
  assert.ok(w1 - w0 < 20, `a warm listing is served from memory (${ms(w0, w1)})`);
  assert.ok(s1 - s0 < 100, `stats after a listing are served from memory (${ms(s0, s1)})`);
  assert.ok(u1 - u0 < 2000, `a cold listing is one round trip (${ms(u0, u1)})`);
});

/**
 * The benchmark's emulated links (test/bench/links/) really are the links they claim to be: the
 * intercontinental profile (150 ms RTT, 50 Mbit/s: a rate this loaded 2-core machine beats many
 * times over without the limit) measured through a probe server behind it, and
 * one of our operations (RemoteFs.upload against the simulator behind the link) completing across
 * it. Only what physics guarantees is asserted: a delay can only make a round trip slower, a rate
 * limit can only make a copy slower — so the bounds hold on a loaded machine.
 *   kernel:     netns + veth + tbf + the delay-line process (skipped, with the reason, where
 *               namespaces or tc are unavailable);
 *   user space: the delay line doing delay and rate (runs anywhere).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { bytesPerSecond, PROFILES } from '../../bench/links/profiles';
import { openLink, type Link } from '../../bench/links/link';
import { netnsUnavailable } from '../../bench/links/netns';
import { startBenchEnv } from '../../bench/env';
import { RemoteFs } from '../../../src/kgpu/fs/remote-fs';
import { sha256File } from '../../../src/kgpu/transfer/bulk-transfer';

const root = path.join(__dirname, '..', '..', '..');
const profile = PROFILES.find((p) => p.name === 'intercontinental')!;
const BYTES = 4 * 1024 * 1024;

/** The probe server behind the link; its address across the link. */
async function probe(t: TestContext, link: Link): Promise<{ host: string; port: number }> {
  const argv = link.wrap(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'bench', 'links', 'probe-server.ts')]);
  const child = spawn(argv.cmd, argv.args, { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.stdin.end());
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`probe server exited (${code})`)));
  });
  const port = Number(/^LISTENING (\d+)$/.exec(line)?.[1]);
  return link.front({ host: '127.0.0.1', port });
}

function connect(a: { host: string; port: number }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ ...a, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Round trips of one byte through the echo mode, ms. */
async function roundTrips(a: { host: string; port: number }, n: number): Promise<number[]> {
  const s = await connect(a);
  s.write('E');
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const back = new Promise<void>((r) => s.once('data', () => r()));
    s.write('x');
    await back;
    out.push(performance.now() - t0);
  }
  s.destroy();
  return out;
}

/** Bytes per second of a `mode` copy of BYTES ('S': from the server, 'R': to it): from the request
 *  written to the last byte (download) or the server's `K` (upload), less the link's RTT, which
 *  every such exchange pays at least once — so a stalled event loop can only lower the figure. */
async function copyRate(a: { host: string; port: number }, mode: 'S' | 'R'): Promise<number> {
  const s = await connect(a);
  const head = Buffer.alloc(5);
  head.write(mode);
  head.writeUInt32BE(BYTES, 1);
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (b: Buffer) => (got += b.length));
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  const t0 = performance.now();
  s.write(head);
  if (mode === 'R') s.write(Buffer.alloc(BYTES, 0x62));
  await done;
  const ms = performance.now() - t0;
  s.destroy();
  assert.equal(got, mode === 'S' ? BYTES : 1, `${mode === 'S' ? 'download' : 'upload'}: every byte across`);
  return BYTES / ((ms - profile.rttMs) / 1000);
}

/** What the profile promises, measured through the link. */
async function assertLinkShape(t: TestContext, link: Link): Promise<void> {
  const front = await probe(t, link);
  const before = await link.connections();
  const rtt = await roundTrips(front, 5);
  // The delay line never releases a chunk early: every round trip takes at least the RTT (1 ms: timer granularity).
  assert.ok(Math.min(...rtt) >= profile.rttMs - 1, `round trips ${rtt.map((x) => x.toFixed(1)).join(', ')} ms ≥ ${profile.rttMs} ms`);
  const rate = bytesPerSecond(profile);
  for (const mode of ['S', 'R'] as const) {
    const r = await copyRate(front, mode);
    // Never faster than the rate (10 %: tbf's bucket, 128 KiB of 4 MiB, and the first TCP window).
    assert.ok(r <= rate * 1.1, `${mode === 'S' ? 'download' : 'upload'} ${(r / 1e6).toFixed(1)} MB/s ≤ ${(rate / 1e6).toFixed(1)} MB/s`);
  }
  const after = await link.connections();
  assert.ok(before !== null && after !== null && after - before === 3, `3 connections counted through the link (${before} → ${after})`);
}

const unavailable = netnsUnavailable();

test(
  'link emulation (kernel: netns + tbf + delay line): intercontinental has its RTT and rate, and RemoteFs.upload completes across it',
  { skip: unavailable ? `namespaces/tc unavailable: ${unavailable}` : false, timeout: 120_000 },
  async (t) => {
    const link = await openLink(profile);
    t.after(() => link.close());
    if (link.method === 'proxy') return t.skip(`namespace/tc set-up failed here: ${link.fallbackReason}`);
    assert.ok(link.method === 'tbf+delay-line' || link.method === 'netem', link.method);
    await assertLinkShape(t, link);

    // Our transfer code against the simulator behind the same link.
    const env = await startBenchEnv(link);
    t.after(() => env.close());
    const file = path.join(env.tmp, 'up.bin');
    fs.writeFileSync(file, randomBytes(1024 * 1024));
    const before = await env.handshakes();
    const rfs = new RemoteFs(env.connector);
    t.after(() => rfs.dispose());
    await rfs.upload(file, '/workspace/link-up.bin');
    const there = (await env.sh('sha256sum /workspace/link-up.bin')).split(' ')[0];
    assert.equal(there, await sha256File(file), 'the upload arrived whole');
    const after = await env.handshakes();
    assert.ok(before !== null && after !== null && after > before, `our SSH connection crossed the link (${before} → ${after})`);
  },
);

test(
  'link emulation (user space: the delay line does delay and rate): intercontinental has its RTT and rate',
  { timeout: 60_000 },
  async (t) => {
    const link = await openLink(profile, { method: 'proxy' });
    t.after(() => link.close());
    assert.equal(link.method, 'proxy');
    await assertLinkShape(t, link);
  },
);

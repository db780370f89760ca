/**
 * Security finding 4: every read of pod (or server) data is bounded. A pod file that is a symlink
 * to /dev/zero, a command that never stops printing, a huge tree under a polling watch, an
 * endless REST body and a pod that never ends its answer line must each be refused with a clear
 * message — not read until the extension host runs out of memory.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { KgpuApiError } from '../../../src/kgpu/api/api-error';
import { download, readAnswerLine } from '../../../src/kgpu/transfer/bulk-transfer';
import { PodWatcher } from '../../../src/kgpu/fs/pod-watcher';
import { exec, execStream, ExecOutputTooLargeError } from '../../../src/kgpu/ssh/ssh-exec';
import { WorkspaceFsError } from '../../../src/kgpu/fs/workspace-fs';
import { startFleet, waitFor } from '../reliability/fleet-fixture';

const MiB = 1024 * 1024;

test('a pod file that is a symlink to /dev/zero: refused at the size limit (WorkspaceFs and RemoteFs), memory bounded; a download stops too', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await pod.sh('ln -s /dev/zero /workspace/zeros.bin');
  const rssBefore = process.memoryUsage().rss;

  // The editor opens it: the limit is kgpu.maxEditorFileSizeMB (here 4 MiB).
  const wfs = pod.fs({ maxFileBytes: () => 4 * MiB });
  const e = await wfs.readFile('/workspace/zeros.bin').then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof WorkspaceFsError && e.kind === 'TooLarge', String(e));
  assert.match(e.message, /the limit is 4(\.0)? MB.*kgpu\.maxEditorFileSizeMB.*kgpu: Download/);

  // RemoteFs on its own: a read with a limit stops at limit + 1 byte.
  const { rfs } = await wfs.connection();
  await assert.rejects(rfs.readFile('/workspace/zeros.bin', { maxBytes: MiB }), /more than 1(\.0)? MiB/);
  // …and a small regular file still reads whole.
  await pod.sh('printf hello > /workspace/small.txt');
  assert.equal((await rfs.readFile('/workspace/small.txt', { maxBytes: 5 })).toString(), 'hello');

  // Download… of it: the pod said 0 bytes; the copy stops instead of filling this disk.
  const local = path.join(f.tmp('dl'), 'zeros.bin');
  await assert.rejects(download(await pod.connector(), '/workspace/zeros.bin', local), /more bytes than its size|not a regular file/);
  assert.ok(!fs.existsSync(local), 'nothing under the final name');
  const part = fs.readdirSync(path.dirname(local));
  for (const p of part) assert.ok(fs.statSync(path.join(path.dirname(local), p)).size < 64 * MiB, `${p} is bounded`);

  const grown = process.memoryUsage().rss - rssBefore;
  assert.ok(grown < 256 * MiB, `RSS grew by ${(grown / MiB).toFixed(0)} MiB`);
});

test('exec(): output kept in memory is bounded (a command that never stops printing is cut off with a clear error)', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const c = f.pods[0]!.connector();
  const out = await exec(c, 'cat /dev/zero', { maxOutputBytes: 2 * MiB }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(out instanceof ExecOutputTooLargeError, String(out));
  assert.match(out.message, /printed more than 2(\.0)? MiB on stdout/);
  const err = await exec(c, 'cat /dev/zero >&2', { maxOutputBytes: 2 * MiB }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ExecOutputTooLargeError && /on stderr/.test(err.message), String(err));
  // The default bound holds without an option.
  await assert.rejects(exec(c, 'cat /dev/zero'), ExecOutputTooLargeError);
  // Output within the bound is whole.
  assert.equal((await exec(c, 'head -c 1000 /dev/zero', { maxOutputBytes: 1000 })).stdout.length, 1000);
  // Nothing of the runaway command is left in the pod.
  await waitFor(
    'the cut-off commands to be gone from the pod',
    async () => (await f.pods[0]!.sh("ps -eo args | grep -c '^cat /dev/zero' || true")).trim() === '0',
    15_000,
  );
});

test('polling watch: a listing bigger than its bound stops the watch with a clear message instead of growing without end', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  await pod.sh('mkdir -p /workspace/many && cd /workspace/many && seq -f "file-with-a-long-name-%06g.txt" 1 3000 | xargs touch');
  let stopped: Error | undefined;
  const w = new PodWatcher({
    connector: async () => pod.connector(),
    root: '/workspace/many',
    recursive: true,
    mode: 'poll',
    pollIntervalMs: 50,
    maxListingBytes: 32 * 1024,
    onChanges: () => undefined,
    onStopped: (e) => (stopped = e),
  });
  t.after(() => w.dispose());
  const e = await waitFor('the watch to stop', () => stopped, 15_000);
  assert.match(e.message, /\/workspace\/many.*more than 32 KiB.*inotify-tools|too many files/);
});

test('REST: a response body is read up to a bound (an endless body is refused, not buffered)', async (t) => {
  let sent = 0;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('[');
    const chunk = Buffer.from(`${'{"name":"x","pad":"' + 'y'.repeat(1000) + '"},'.repeat(64)}`);
    const pump = (): void => {
      while (!res.destroyed && sent < 512 * MiB) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end(']');
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.on('connection', (s) => t.after(() => s.destroy()));
  const client = new KgpuClient({
    apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    getToken: async () => undefined,
    maxResponseBytes: 4 * MiB,
    retry: { maxAttempts: 1 },
  });
  t.after(() => client.close());
  const e = await client.listGpuModels().then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof KgpuApiError, String(e));
  assert.match(e.message, /larger than 4(\.0)? MiB/);
  assert.ok(sent < 64 * MiB, `the server got to send ${(sent / MiB).toFixed(0)} MiB before we stopped reading`);
});

test("bulk transfer: the pod's answer line is read up to a bound (a pod that never sends a newline is refused)", async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const s = await execStream(f.pods[0]!.connector(), 'cat /dev/zero', { stdin: Buffer.alloc(0) });
  s.done.catch(() => undefined); // closed below, while the pod still writes
  t.after(() => s.close());
  await assert.rejects(readAnswerLine(s.stdout, 4096), /no answer line within 4096 bytes/);
});

/**
 * The image's nvidia-smi stand-in answers the telemetry query kgpu streams (issue 19):
 * `--query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits`,
 * once or in a loop (`-lms`, `-l`), with numbers that move with the pod's real processes —
 * utilization from their CPU load, memory.used from their resident memory — and memory.total from
 * the rented model. The older forms (`-L`, the table) keep working.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PodHandle, PodRuntime } from '../../sim/contracts';
import { createPodRuntime } from '../../sim/pods';

const QUERY = 'nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits';

const exec = (h: PodHandle, command: string, timeoutMs = 30_000) => h.exec(['bash', '-c', command], { timeoutMs, maxOutputBytes: 1 << 20 });

interface Gpu {
  index: number;
  util: number;
  used: number;
  total: number;
}

function parseLine(line: string): Gpu {
  const cells = line.split(', ');
  assert.equal(cells.length, 4, `four fields: ${JSON.stringify(line)}`);
  assert.ok(
    cells.every((c) => /^\d+$/.test(c)),
    `plain numbers (nounits): ${JSON.stringify(line)}`,
  );
  const [index, util, used, total] = cells.map(Number);
  return { index, util, used, total };
}

/** A running `nvidia-smi … -lms` in a pod: its lines as they come, and a way to wait for one. */
function stream(h: PodHandle, command: string) {
  const p = h.spawn(command);
  const lines: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  p.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  let stderr = '';
  p.child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => p.child.on('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of waiters) w();
  });
  return {
    lines,
    exited,
    get running() {
      return !done;
    },
    /** Resolves with the index in `lines` of the first line from `from` on that satisfies `ok`. */
    until(ok: (line: string) => boolean, what: string, from = 0, timeoutMs = 60_000): Promise<number> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = lines.findIndex((l, n) => n >= from && ok(l));
          if (i >= 0) finish(() => resolve(i));
          else if (done) finish(() => reject(new Error(`nvidia-smi ended before ${what}: ${lines.slice(-6).join(' | ')} ${stderr}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out waiting for ${what}; last lines: ${lines.slice(-6).join(' | ')} ${stderr}`))),
          timeoutMs,
        );
        const finish = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    stop() {
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      return exited;
    },
  };
}

/** A detached busy loop holding ~`mib` MiB (touched, so resident) in the pod; prints nothing.
 *  Returns once it runs as python3 (so in its own session: the exec's end, which kills what is
 *  left in its process group, cannot catch it between setsid's fork and its setsid()). */
const BUSY = (mib: number, env = '') =>
  `${env} setsid -f python3 -c 'b = b"x" * (${mib} << 20)\nwhile True: pass' </dev/null >/dev/null 2>&1; until pgrep -x python3 >/dev/null; do sleep 0.01; done`;

describe('nvidia-smi telemetry in simulated pods', () => {
  let dir: string;
  let rt: PodRuntime;
  let one: PodHandle;
  let two: PodHandle;
  let none: PodHandle;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kgpu-smi-test-'));
    rt = createPodRuntime({ stateDir: join(dir, 'pods') });
    const env = (id: string) => ({
      KGPU_API_TOKEN: `kgpu_pod_${id}.sig`,
      KGPU_API_BASE: 'http://127.0.0.1:9/v1',
      KGPU_GPU_ID: id,
      KGPU_RENT_ID: id,
      NVIDIA_VISIBLE_DEVICES: 'void',
    });
    [one, two, none] = await Promise.all([
      rt.create({ podId: 'smi-one', gpuModel: 'rtx3090', gpuCount: 1, env: env('smi-one'), diskLimitBytes: 1 << 30 }),
      rt.create({ podId: 'smi-two', gpuModel: 'v100', gpuCount: 2, env: env('smi-two'), diskLimitBytes: 1 << 30 }),
      rt.create({ podId: 'smi-none', gpuModel: 'rtx3080', gpuCount: 0, env: env('smi-none'), diskLimitBytes: 1 << 30 }),
    ]);
  });
  after(async () => {
    await rt.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers the query once: one line per GPU, the model's memory.total, an idle pod at 0 %; with units and a header when asked; no devices in a 0-GPU pod", async () => {
    const idle = await exec(one, QUERY);
    assert.equal(idle.exit_code, 0, idle.stderr);
    const [gpu, ...more] = idle.stdout.trim().split('\n').map(parseLine);
    assert.equal(more.length, 0);
    assert.equal(gpu.index, 0);
    assert.equal(gpu.total, 24576, 'an RTX 3090 has 24 GiB');
    assert.ok(gpu.util < 5, `an idle pod's GPU is idle: ${idle.stdout}`);
    assert.ok(gpu.used < 64, `an idle pod uses (almost) no GPU memory: ${idle.stdout}`);

    const v100 = await exec(two, QUERY);
    assert.deepEqual(
      v100.stdout
        .trim()
        .split('\n')
        .map(parseLine)
        .map((g) => [g.index, g.total]),
      [
        [0, 32768],
        [1, 32768],
      ],
    );
    const pick = await exec(two, `${QUERY} -i 1`);
    assert.deepEqual(
      pick.stdout
        .trim()
        .split('\n')
        .map(parseLine)
        .map((g) => g.index),
      [1],
    );

    const units = await exec(one, 'nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total --format=csv');
    assert.equal(units.exit_code, 0, units.stderr);
    const [header, row] = units.stdout.trim().split('\n');
    assert.equal(header, 'index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB]');
    assert.match(row, /^0, NVIDIA GeForce RTX 3090, \d+ %, \d+ MiB, 24576 MiB$/);

    const bad = await exec(one, 'nvidia-smi --query-gpu=index,bogus.field --format=csv');
    assert.equal(bad.exit_code, 2);
    assert.match(bad.stderr, /Field "bogus.field" is not a valid field to query/);

    const empty = await exec(none, QUERY);
    assert.deepEqual([empty.exit_code, empty.stdout.trim()], [6, 'No devices were found']);
    // The older forms keep working.
    const list = await exec(two, 'nvidia-smi -L');
    assert.equal(list.stdout.trim().split('\n').length, 2);
    const table = await exec(one, 'nvidia-smi');
    assert.match(table.stdout, /NVIDIA-SMI .*\(simulated\)/);
    assert.match(table.stdout, /\d+MiB \/ 24576MiB/);
  });

  it('a busy process raises utilization and memory.used within a few ticks; they fall back when it ends', async () => {
    const smi = stream(one, `${QUERY} -lms 200`);
    try {
      const first = await smi.until(() => true, 'the first line');
      const idle = parseLine(smi.lines[first]);
      assert.ok(idle.util < 5 && idle.used < 64, `idle before: ${smi.lines[first]}`);
      const started = await exec(one, BUSY(160));
      assert.equal(started.exit_code, 0, started.stderr);
      const startedAt = smi.lines.length;
      // One busy core is 100 % of this GPU; on a loaded machine it gets less, but far above idle.
      const busy = await smi.until((l) => parseLine(l).util >= 10 && parseLine(l).used >= 160, 'a busy GPU (≥ 10 %, ≥ 160 MiB)', startedAt);
      assert.ok(parseLine(smi.lines[busy]).util <= 100, 'capped at 100 %');
      const killed = await exec(one, 'pkill -x python3; true');
      assert.equal(killed.exit_code, 0, killed.stderr);
      await smi.until((l) => parseLine(l).util < 5 && parseLine(l).used < 64, 'the GPU idle again', smi.lines.length);
      assert.ok(smi.running, 'the loop keeps running until killed');
    } finally {
      await smi.stop();
    }
  });

  it('a torchrun-style worker (LOCAL_RANK=1) loads GPU 1 of a 2-GPU pod, not GPU 0', async () => {
    const smi = stream(two, `${QUERY} -lms 200`);
    try {
      await smi.until(() => true, 'the first line');
      const started = await exec(two, BUSY(96, 'LOCAL_RANK=1'));
      assert.equal(started.exit_code, 0, started.stderr);
      const at = smi.lines.length;
      const i = await smi.until(
        (l) => {
          const g = parseLine(l);
          return g.index === 1 && g.util >= 10 && g.used >= 96;
        },
        'GPU 1 busy',
        at,
      );
      // The line before GPU 1's in the same tick is GPU 0's: untouched.
      const gpu0 = parseLine(smi.lines[i - 1]);
      assert.equal(gpu0.index, 0);
      assert.ok(gpu0.util < 5 && gpu0.used < 64, `GPU 0 stays idle: ${smi.lines[i - 1]}`);
    } finally {
      await smi.stop();
      await exec(two, 'pkill -x python3; true');
    }
  });

  it('loops: -lms prints every GPU once per tick, flushed as it goes, until killed; -l takes seconds', async () => {
    const smi = stream(two, `${QUERY} -lms 100`);
    // Lines arrive while it runs (flushed per tick, not when the pipe's buffer fills).
    await smi.until((l) => l.startsWith('1, '), 'the third tick', 4);
    assert.ok(smi.running);
    const t0 = Date.now();
    const n0 = smi.lines.length;
    await smi.until(() => true, 'ten more ticks', n0 + 19);
    const elapsed = Date.now() - t0;
    await smi.stop();
    const lines = smi.lines;
    // Whole ticks, GPU 0 then GPU 1, and never more ticks than the time allows (no bursts).
    assert.equal(lines.length % 2, 0, lines.join('\n'));
    for (let i = 0; i < lines.length; i++) assert.equal(parseLine(lines[i]).index, i % 2);
    const ticks = (smi.lines.length - n0) / 2;
    assert.ok(ticks <= elapsed / 100 + 3, `${ticks} ticks in ${elapsed} ms at -lms 100`);

    const slow = stream(one, `${QUERY} -l 1`);
    const t1 = Date.now();
    await slow.until(() => true, 'the second tick', 1);
    const secs = (Date.now() - t1) / 1000;
    await slow.stop();
    assert.ok(secs >= 0.9, `-l 1 waits a second between ticks (${secs} s for two)`);
  });
});

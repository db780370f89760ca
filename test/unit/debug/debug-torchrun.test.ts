/**
 * Debug on GPU on a 2-GPU simulator pod with torchrun (issue 23): the job runs under real torchrun
 * (Debian's PyTorch, gloo on the CPU) with debugpy in rank 0 only; the debugger attaches to rank 0
 * (a breakpoint hits there, with rank 0's variables; rank 1 is no debuggee: one debugpy port in the
 * job), every rank's output reaches the debug console from the job's log, and the session ends
 * with the job's exit code.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AgentClient } from '../../../src/kgpu/agent';
import { findDebugPorts, startDebugJob } from '../../../src/kgpu/debug';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { execStream } from '../../../src/kgpu/ssh/ssh-exec';
import { MapStore, startRunFixture, type RunFixture } from '../kgpu/jobs/run-fixture';
import { DapTestClient } from './dap-test-client';

const DDP = `import os
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
rank = dist.get_rank()
t = torch.tensor([rank + 1.0])
dist.all_reduce(t)
print(f"rank {rank} sum {t.item()}", flush=True)
dist.destroy_process_group()
`;
const PRINT_LINE = 8;

let fx: RunFixture;
let runner: JobRunner;
let agent: AgentClient;
let folder: string;
before(async () => {
  fx = await startRunFixture({}, { gpu_model: 'rtx3090', gpu_count: 2 });
  runner = new JobRunner({ commands: async () => fx.commands(), store: new MapStore(), syncStateDir: fx.tmp('sync-state'), pollMs: 0 });
  const c = fx.connector();
  agent = new AgentClient({ exec: (cmd, o) => execStream(c, cmd, o) });
  folder = path.join(fx.tmp('p'), 'ddpdebug');
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'ddp.py'), DDP);
});
after(async () => {
  agent?.dispose();
  runner?.dispose();
  await fx?.stop();
});

test('torchrun: debugpy in rank 0 only, the breakpoint hits there, both ranks run to the end', async () => {
  const file = path.join(folder, 'ddp.py');
  const s = await startDebugJob({
    podId: fx.podId,
    agent,
    runner,
    pod: fx.commands(),
    target: { kind: 'local', folder, file },
    python: 'python3',
    args: [],
    env: {},
    launcher: { kind: 'torchrun', nprocPerNode: 2 },
  });
  const c = new DapTestClient(s.bridge);
  try {
    assert.match(
      s.handle.plan.command,
      /-m torch\.distributed\.run --standalone --nproc_per_node=2 .*debug_launch_[0-9a-f]{16}\.py ddp\.py$/,
    );
    await c.ok('initialize', { adapterID: 'kgpu', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const launched = c.request('launch', { type: 'kgpu', request: 'launch', name: 'ddp', program: file });
    await c.event('initialized');
    const bps = await c.ok('setBreakpoints', { source: { path: file }, breakpoints: [{ line: PRINT_LINE }] });
    assert.equal(bps.breakpoints[0].verified, true);
    await c.ok('configurationDone');
    assert.ok((await launched).success);
    const stop = await c.event('stopped', undefined, 120_000);
    assert.equal(stop.body.reason, 'breakpoint');
    const st = await c.ok('stackTrace', { threadId: stop.body.threadId, startFrame: 0, levels: 5 });
    assert.equal(st.stackFrames[0].source.path, file);
    const ev = await c.ok('evaluate', {
      expression: '(rank, t.item(), os.environ["RANK"])',
      frameId: st.stackFrames[0].id,
      context: 'repl',
    });
    assert.equal(ev.result, `(0, 3.0, '0')`, 'stopped in rank 0, after the all-reduce with rank 1');
    // One debuggee in the job: rank 0.
    const ports = await findDebugPorts(fx.commands(), s.handle.jobId);
    assert.deepEqual(
      ports.map((p) => [p.port, p.rank]),
      [[s.port, '0']],
    );
    await c.ok('continue', { threadId: stop.body.threadId });
    assert.equal((await c.event('exited', undefined, 120_000)).body.exitCode, 0);
    await c.event('terminated');
    assert.match(c.output(), /\[default0\]:rank 0 sum 3\.0/);
    assert.match(c.output(), /\[default1\]:rank 1 sum 3\.0/);
  } finally {
    s.bridge.dispose();
  }
});

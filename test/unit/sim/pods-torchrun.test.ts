/**
 * A pod rented with several GPUs runs PyTorch's own distributed launcher (issue 23): real
 * `torchrun` / `python3 -m torch.distributed.run --standalone` from Debian's PyTorch, the `gloo`
 * backend on CPU, the rendezvous on the pod's loopback (its hostname resolves there), one worker
 * per GPU — here the sample project's ddp_train.py (DistributedDataParallel + an all-reduce); a
 * failing rank fails the run. The pod sees its GPUs and environment as the contract says:
 * `nvidia-smi -L` lists them, NVIDIA_VISIBLE_DEVICES=void, CUDA_VISIBLE_DEVICES unset.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../sim/index';
import { rentReady, startSim } from './rest-fixture';

const SAMPLE = join(__dirname, '..', '..', 'e2e', 'sample-project');

/** Rank 1 fails at once; rank 0 waits for it in the rendezvous of the process group. */
const RANK_1_FAILS = `
import os, sys
if os.environ["RANK"] == "1":
    sys.exit("rank 1 fails on purpose")
import torch.distributed as dist
dist.init_process_group("gloo")
`;

describe('torchrun in a 2-GPU pod', () => {
  let sim: Simulator;
  let podId: string;
  let ws: string;
  const cleanups: (() => unknown)[] = [];
  const run = async (command: string, stdin?: string) => {
    const h = sim.state.pods.get(podId)!.handle!;
    return h.exec(['bash', '-c', command], {
      stdin: stdin === undefined ? undefined : Buffer.from(stdin),
      timeoutMs: 240_000,
      maxOutputBytes: 1 << 20,
    });
  };
  before(async () => {
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as Parameters<typeof startSim>[0];
    sim = await startSim(t);
    podId = await rentReady(sim, { gpu_model: 'rtx3090', gpu_count: 2 });
    ws = sim.state.pods.get(podId)!.handle!.workspaceDir;
    cpSync(SAMPLE, join(ws, 'sample'), { recursive: true }); // as after a sync of the project
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it("sees its two GPUs and the contract's environment; its hostname is the pod's and resolves to its loopback; torchrun is there", async () => {
    const r = await run(
      'hostname; getent hosts "$(hostname)"; nvidia-smi -L | wc -l; echo "${CUDA_VISIBLE_DEVICES-unset} $NVIDIA_VISIBLE_DEVICES"; command -v torchrun',
    );
    assert.equal(r.exit_code, 0, r.stderr);
    const [hostname, resolved, gpus, env, torchrun] = r.stdout.trim().split('\n');
    assert.equal(hostname, podId);
    assert.equal(resolved.split(/\s+/)[0], '127.0.0.1', resolved);
    assert.equal(gpus, '2');
    assert.equal(env, 'unset void');
    assert.match(torchrun, /\/torchrun$/);
  });

  it('torchrun --standalone --nproc_per_node=2 runs the sample ddp_train.py on both "GPUs": gloo over the pod loopback, the loss per epoch from rank 0, both ranks end with the same weights, exit 0', async () => {
    const r = await run('cd /workspace/sample && torchrun --standalone --nproc_per_node=2 ddp_train.py --epochs 2 --steps 10');
    assert.equal(r.exit_code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^DDP: 2 processes, backend gloo, PyTorch [\d.]+\w*, device cpu$/m);
    assert.equal([...r.stdout.matchAll(/\repoch \d\/2 loss [\d.]+ *\n/g)].length, 2, r.stdout);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('{"metric": "loss"')).length, 2);
    const done = [...r.stdout.matchAll(/^rank (\d)\/2 done in [\d.]+s, weights checksum (-?[\d.]+)$/gm)].sort(
      (a, b) => Number(a[1]) - Number(b[1]),
    );
    assert.deepEqual(
      done.map((m) => m[1]),
      ['0', '1'],
      r.stdout,
    );
    assert.equal(done[0][2], done[1][2], 'DDP keeps the ranks in step');
    assert.ok(existsSync(join(ws, 'sample', 'checkpoints', 'ddp.pt')));
  });

  it('a rank that fails fails the run (python3 -m torch.distributed.run): non-zero exit, the failing rank named', async () => {
    const r = await run(
      'cat > /workspace/fails.py && python3 -m torch.distributed.run --standalone --nproc_per_node=2 fails.py',
      RANK_1_FAILS,
    );
    assert.notEqual(r.exit_code, 0, r.stdout);
    assert.match(r.stderr, /rank 1 fails on purpose/);
    assert.match(r.stderr, /rank\s*: 1 \(local_rank: 1\)/, r.stderr);
  });
});

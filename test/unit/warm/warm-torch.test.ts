/**
 * Warm runs with PyTorch (Debian's CPU build in the simulator's pods) preloaded by the fork server:
 * a forked child does a matmul, uses DataLoader workers and torch.multiprocessing; its random
 * state is its own (as a cold run's, seeded from the OS); a script that sets the environment
 * before importing torch, or whose folder shadows a preloaded package, runs cold with the reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { forkServerStatus } from '../../../src/kgpu/warm';
import { outcome, startWarmPod, type WarmPod } from './warm-fixture';

const DIR = '/workspace/torchproj';
let w: WarmPod;

before(async () => {
  w = await startWarmPod();
  w.write(
    `${DIR}/mm.py`,
    [
      'import torch',
      'import torch.multiprocessing as tmp',
      'from torch.utils.data import DataLoader, TensorDataset',
      '',
      'def worker(q):',
      '    q.put((torch.ones(3) * 2).tolist())',
      '',
      'if __name__ == "__main__":',
      '    x = torch.arange(16.0).reshape(4, 4)',
      '    print("matmul", (x @ x).tolist(), flush=True)',
      '    big = torch.ones(256, 256)',
      '    print("big", (big @ big).sum().item(), "threads", torch.get_num_threads(), torch.get_num_interop_threads(), "cuda", torch.cuda.is_available())',
      '    loader = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=2, num_workers=2)',
      '    print("loader", [b[0].tolist() for b in loader], flush=True)',
      '    q = tmp.Queue()',
      '    p = tmp.Process(target=worker, args=(q,))',
      '    p.start()',
      '    print("torch.multiprocessing", q.get(), flush=True)',
      '    p.join()',
      '    print("exitcode", p.exitcode)',
      '',
    ].join('\n'),
  );
  w.write(
    `${DIR}/rand.py`,
    'import random, numpy, torch\nprint(random.random(), numpy.random.rand(), torch.rand(1).item(), torch.initial_seed())\n',
  );
  w.write(
    `${DIR}/env_first.py`,
    'import os\nos.environ["OMP_NUM_THREADS"] = "1"\nimport torch\nprint("threads", torch.get_num_threads())\n',
  );
  w.write(
    `${DIR}/cuda_env.py`,
    'import os\nos.environ["CUDA_VISIBLE_DEVICES"] = "0"\nimport torch\nprint("cuda", torch.cuda.is_available())\n',
  );
  w.write(`${DIR}/shadowed/uses_numpy.py`, 'import numpy\nprint("numpy from", numpy.__file__)\n');
  w.write(`${DIR}/shadowed/numpy.py`, '"""The project\'s own numpy.py: a cold run imports this one."""\n');
  const r = await w.ensure({ cwd: DIR, script: 'mm.py' });
  assert.equal(r.state, 'ready', JSON.stringify(r));
});

after(async () => {
  await w?.stop();
});

test('the fork server learned torch from the script and preloaded it without initialising CUDA or threads that break fork', async () => {
  const s = await forkServerStatus(w.pod, w.script, { python: 'python', cwd: DIR });
  assert.ok(s?.preloaded.includes('torch'), JSON.stringify(s));
  assert.ok((s?.rss_kb ?? 0) > 50_000, `a server with torch in is big: ${s?.rss_kb} KiB`);
});

test('import torch, a matmul, DataLoader workers and torch.multiprocessing: warm and cold logs are byte-identical', async () => {
  const cold = await w.run({ cwd: DIR, script: 'mm.py', warm: false });
  const warm = await w.run({ cwd: DIR, script: 'mm.py', warm: true });
  assert.deepEqual(warm.mode, { warm: true });
  assert.deepEqual(outcome(warm), outcome(cold));
  assert.match(
    warm.log.toString(),
    /^matmul \[\[56\.0, 62\.0, 68\.0, 74\.0\][\s\S]*big 16777216\.0 threads \d+ \d+ cuda False\nloader \[\[0\.0, 1\.0\], [\s\S]*torch\.multiprocessing \[2\.0, 2\.0, 2\.0\]\nexitcode 0\n$/,
  );
});

test("random, numpy and torch random state is fresh in every warm run (not the server's copy)", async () => {
  const a = await w.run({ cwd: DIR, script: 'rand.py', warm: true });
  const b = await w.run({ cwd: DIR, script: 'rand.py', warm: true });
  assert.deepEqual([a.mode, b.mode], [{ warm: true }, { warm: true }]);
  const [ra, rb] = [a.log.toString().trim().split(' '), b.log.toString().trim().split(' ')];
  assert.equal(ra.length, 4);
  for (let i = 0; i < 4; i++) assert.notEqual(ra[i], rb[i], `value ${i} differs between two warm runs: ${ra} / ${rb}`);
});

test('a script that sets os.environ before importing torch runs cold (torch read it at import); CUDA_VISIBLE_DEVICES is read later, so warm', async () => {
  const cold = await w.run({ cwd: DIR, script: 'env_first.py', warm: false });
  const tried = await w.run({ cwd: DIR, script: 'env_first.py', warm: true });
  assert.deepEqual(tried.mode, { warm: false, code: 'environ', reason: 'env_first.py changes os.environ before importing torch' });
  assert.deepEqual(outcome(tried), outcome(cold));
  assert.equal(cold.log.toString(), 'threads 1\n');
  const lazy = await w.run({ cwd: DIR, script: 'cuda_env.py', warm: true });
  assert.deepEqual(lazy.mode, { warm: true });
  assert.equal(lazy.log.toString(), 'cuda False\n');
});

test("a project file named like a package the server has imported (numpy.py) makes the run cold, as a cold run imports the project's", async () => {
  const cold = await w.run({ cwd: `${DIR}/shadowed`, script: 'uses_numpy.py', warm: false });
  const tried = await w.run({ cwd: `${DIR}/shadowed`, script: 'uses_numpy.py', warm: true });
  assert.deepEqual(tried.mode, {
    warm: false,
    code: 'shadow',
    reason: "the project's own numpy.py shadows the numpy the fork server has imported",
  });
  assert.deepEqual(outcome(tried), outcome(cold));
  assert.equal(cold.log.toString(), `numpy from ${DIR}/shadowed/numpy.py\n`);
});

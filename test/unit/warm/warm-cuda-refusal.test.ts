/**
 * The fork server must never initialise CUDA before it forks (CUDA does not survive fork(); pytorch
 * #68861). The simulator has no CUDA, so a stand-in `torch` whose import "initialises CUDA" (its
 * torch.cuda.is_initialized() is True, which the server's check reads) sits in a virtual
 * environment: the server refuses it and exits, the run is cold with the reason and identical
 * output, and the next server leaves torch out (the job imports it itself) and serves warm.
 * (The real check on a GPU: docs/gpu-run.md.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { forkServerStatus } from '../../../src/kgpu/warm';
import { outcome, startWarmPod, type WarmPod } from './warm-fixture';

const DIR = '/workspace/cudaproj';
const VENV = '/workspace/cudavenv';
const PY = `${VENV}/bin/python`;
let w: WarmPod;

before(async () => {
  w = await startWarmPod();
  await w.sh(`python3 -m venv --without-pip ${VENV}`);
  w.write(
    `${VENV}/lib/python3.11/site-packages/torch/__init__.py`,
    [
      '"""A stand-in for torch whose import initialises CUDA (what the fork server must refuse)."""',
      '',
      'class cuda:',
      '    @staticmethod',
      '    def is_initialized():',
      '        return True',
      '',
    ].join('\n'),
  );
  w.write(`${DIR}/train.py`, 'import torch\nprint("torch says CUDA initialised:", torch.cuda.is_initialized())\n');
});

after(async () => {
  await w?.stop();
});

test('a preload that initialised CUDA is refused: the server exits, the run is cold with the reason, then a server without it serves warm', async () => {
  const refused = await w.ensure({ cwd: DIR, script: 'train.py', python: PY });
  assert.deepEqual(refused, {
    state: 'stopped',
    reason: 'the fork server refused the preload: importing torch initialised CUDA: torch.cuda.is_initialized() is True',
  });
  assert.equal(await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR }), undefined, 'no server answers');

  const cold = await w.run({ cwd: DIR, script: 'train.py', python: PY, warm: false });
  const tried = await w.run({ cwd: DIR, script: 'train.py', python: PY, warm: true });
  assert.deepEqual(tried.mode, { warm: false, code: 'refused', reason: refused.reason });
  assert.deepEqual(outcome(tried), outcome(cold));

  // The next server (the job runner starts one after such a cold start) leaves torch out.
  const next = await w.ensure({ cwd: DIR, script: 'train.py', python: PY });
  assert.equal(next.state, 'ready', JSON.stringify(next));
  const status = await forkServerStatus(w.pod, w.script, { python: PY, cwd: DIR });
  assert.deepEqual([status?.preloaded, status?.excluded], [[], ['torch']]);
  const warm = await w.run({ cwd: DIR, script: 'train.py', python: PY, warm: true });
  assert.deepEqual(warm.mode, { warm: true });
  assert.deepEqual(outcome(warm), outcome(cold));
});

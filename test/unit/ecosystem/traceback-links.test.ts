import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTracebackLinks, resolveLinkTarget, type FolderMapping } from '../../../src/kgpu/links/traceback-links';
import { startJobsPod, type JobsPod } from '../kgpu/jobs/jobs-fixture';

let pod: JobsPod;
let tmp: string;
let log: string;
const TRAIN = `import warnings
import helper

def main():
    warnings.warn("lr is high")
    helper.step(0)

main()
`;
const HELPER = `def step(n):
    return 1 / n
`;

before(async () => {
  pod = await startJobsPod();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-links-test-'));
  // The local folder the pod's /workspace/proj came from: train.py only (helper.py exists only in the pod).
  fs.mkdirSync(path.join(tmp, 'proj'));
  fs.writeFileSync(path.join(tmp, 'proj', 'train.py'), TRAIN);
  fs.writeFileSync(path.join(tmp, 'secret.py'), 'outside the folder');
  await pod.sh(
    `mkdir -p /workspace/proj && cd /workspace/proj && printf '%s' '${TRAIN}' > train.py && printf '%s' '${HELPER}' > helper.py`,
  );
  // A real log: what Python in the pod prints (the job's stdout and stderr together).
  log = await pod.sh('cd /workspace/proj && python3 train.py 2>&1; true');
});
after(async () => {
  await pod?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the real traceback from the pod has a link for each frame and the warning', () => {
  const lines = log.split('\n');
  const found = lines.flatMap((l) => findTracebackLinks(l).map((k) => ({ l, k })));
  const names = found.map(({ l, k }) => `${k.path}:${k.line} «${l.slice(k.startIndex, k.startIndex + k.length)}»`);
  assert.deepEqual(
    names,
    [
      '/workspace/proj/train.py:5 «/workspace/proj/train.py:5»',
      '/workspace/proj/train.py:8 «File "/workspace/proj/train.py", line 8»',
      '/workspace/proj/train.py:6 «File "/workspace/proj/train.py", line 6»',
      '/workspace/proj/helper.py:2 «File "/workspace/proj/helper.py", line 2»',
    ],
    log,
  );
});

test('a link goes to the local file when the pod copy came from one, else to the pod file', async () => {
  const mappings: FolderMapping[] = [{ remoteDir: '/workspace/proj', localDir: path.join(tmp, 'proj') }];
  const links = log.split('\n').flatMap(findTracebackLinks);
  const train = links.find((l) => l.path.endsWith('train.py') && l.line === 6)!;
  assert.deepEqual(await resolveLinkTarget(train, mappings), { kind: 'local', file: path.join(tmp, 'proj', 'train.py'), line: 6 });
  const helper = links.find((l) => l.path.endsWith('helper.py'))!;
  assert.deepEqual(await resolveLinkTarget(helper, mappings), { kind: 'pod', path: '/workspace/proj/helper.py', line: 2 });
  // Relative paths (pytest, `python train.py` warnings) resolve against the job's folder.
  assert.deepEqual(await resolveLinkTarget({ path: 'train.py', line: 3 }, mappings, '/workspace/proj'), {
    kind: 'local',
    file: path.join(tmp, 'proj', 'train.py'),
    line: 3,
  });
});

test('a path from the pod never leads out of the mapped local folder', async () => {
  const mappings: FolderMapping[] = [{ remoteDir: '/workspace/proj', localDir: path.join(tmp, 'proj') }];
  assert.deepEqual(await resolveLinkTarget({ path: '/workspace/proj/../secret.py', line: 1 }, mappings), {
    kind: 'pod',
    path: '/workspace/secret.py',
    line: 1,
  });
  fs.symlinkSync(path.join(tmp, 'secret.py'), path.join(tmp, 'proj', 'link.py'));
  assert.deepEqual(await resolveLinkTarget({ path: '/workspace/proj/link.py', line: 1 }, mappings), {
    kind: 'pod',
    path: '/workspace/proj/link.py',
    line: 1,
  });
});

test('other lines of real logs: pdb, a chained frame, a pytest line; no link for <frozen …> or plain text', () => {
  const show = (s: string): string[] => findTracebackLinks(s).map((k) => `${k.path}:${k.line}@${k.startIndex}+${k.length}`);
  assert.deepEqual(show('> /workspace/proj/train.py(42)main()'), ['/workspace/proj/train.py:42@2+28']);
  assert.deepEqual(show('  File "/usr/lib/python3/dist-packages/torch/nn/modules/module.py", line 1511, in _wrapped_call_impl'), [
    '/usr/lib/python3/dist-packages/torch/nn/modules/module.py:1511@2+75',
  ]);
  assert.deepEqual(show('tests/test_model.py:17: AssertionError'), ['tests/test_model.py:17@0+22']);
  assert.deepEqual(show('  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import'), []);
  assert.deepEqual(show('epoch 3: loss 0.25, accuracy 91.2%, 12:30:01'), []);
});

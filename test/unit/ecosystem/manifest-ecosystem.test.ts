import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const c = pkg.contributes;

test('the kgpu task type is contributed (command required; pod and cwd optional) and activates the extension', () => {
  const def = c.taskDefinitions.find((d: { type: string }) => d.type === 'kgpu');
  assert.ok(def, 'taskDefinitions has kgpu');
  assert.deepEqual(def.required, ['command']);
  assert.deepEqual(Object.keys(def.properties).sort(), ['command', 'cwd', 'pod']);
  assert.ok(pkg.activationEvents.includes('onTaskType:kgpu'));
});

test('the $kgpu-python problem matcher maps a pod traceback frame to the workspace folder', () => {
  const m = c.problemMatchers.find((p: { name: string }) => p.name === 'kgpu-python');
  assert.deepEqual(m.fileLocation, ['relative', '${workspaceFolder}']);
  const re = new RegExp(m.pattern.regexp);
  const hit = re.exec('  File "/workspace/my proj/src/train.py", line 42, in main');
  assert.ok(hit);
  assert.equal(hit[m.pattern.file], 'src/train.py');
  assert.equal(hit[m.pattern.line], '42');
  assert.equal(hit[m.pattern.message], 'main');
  assert.equal(re.exec('  File "/usr/lib/python3/dist-packages/torch/nn/module.py", line 1, in f'), null, 'a library frame is not a problem in the workspace');
});

test('the extension activates after start-up (not only when a view opens), so the status bar shows what billed pods cost after a restart', () => {
  assert.ok(pkg.activationEvents.includes('onStartupFinished'));
  assert.ok(!pkg.activationEvents.includes('*'), 'never "*": start-up must not wait for kgpu');
});

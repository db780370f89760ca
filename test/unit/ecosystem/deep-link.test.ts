import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDeepLink } from '../../../src/kgpu/uri/deep-link';

test('open?pod=<id> and rent?gpu_model=…&gpu_count=… are understood', () => {
  assert.deepEqual(parseDeepLink('/open', 'pod=gpu-rent-7f3a'), { kind: 'open', podId: 'gpu-rent-7f3a' });
  assert.deepEqual(parseDeepLink('/rent', 'gpu_model=rtx4090'), { kind: 'rent', gpuModel: 'rtx4090', gpuCount: undefined });
  assert.deepEqual(parseDeepLink('/rent', 'gpu_model=a100-80gb&gpu_count=2'), { kind: 'rent', gpuModel: 'a100-80gb', gpuCount: 2 });
  assert.deepEqual(parseDeepLink('/rent', ''), { kind: 'rent', gpuModel: undefined, gpuCount: undefined });
});

test('a link from any web page can only start a flow the user confirms: no extra parameter gets through', () => {
  // `yes` (skip every prompt), `mode`, `path`, `wait`: what the commands accept from tests, never from a link.
  const rent = parseDeepLink('/rent', 'gpu_model=rtx4090&yes=true&wait=false&image=evil%2Fminer&env=X%3D1');
  assert.deepEqual(Object.keys(rent).sort(), ['gpuCount', 'gpuModel', 'kind']);
  const open = parseDeepLink('/open', 'pod=gpu-rent-1&mode=newWindow&path=%2Fetc');
  assert.deepEqual(open, { kind: 'open', podId: 'gpu-rent-1' });
});

test('bad links are refused with a message that says what a good one looks like', () => {
  for (const [p, q] of [
    ['/open', ''],
    ['/open', 'pod=../../x'],
    ['/open', 'pod=a%20b'],
    ['/rent', 'gpu_model=rtx%3B%20rm'],
    ['/rent', 'gpu_count=0'],
    ['/rent', 'gpu_count=1.5'],
    ['/rent', 'gpu_count=1e9'],
    ['/release', 'pod=x'],
  ]) {
    const r = parseDeepLink(p, q);
    assert.equal(r.kind, 'invalid', `${p}?${q}`);
  }
  const r = parseDeepLink('/release', 'pod=x');
  assert.match(r.kind === 'invalid' ? r.message : '', /open\?pod=<id>.*rent\?gpu_model=<model>/);
});

test('the manifest activates the extension for its URIs', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
  assert.ok(pkg.activationEvents.includes('onUri'));
});

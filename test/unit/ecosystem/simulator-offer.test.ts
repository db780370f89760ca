import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { simulatorReachable } from '../../../src/kgpu/walkthrough/simulator-offer';

const installed = os.tmpdir(); // an installed extension's folder has no test/sim/
const checkout = path.join(__dirname, '..', '..', '..');

test('an installed extension talking to kgpu itself does not offer the simulator', () => {
  assert.equal(simulatorReachable({ developmentMode: false, extensionPath: installed, apiBase: 'https://api.kgpu.net/v1' }), false);
  assert.equal(
    simulatorReachable({
      developmentMode: false,
      extensionPath: installed,
      apiBase: 'https://api.kgpu.net/v1',
      envApiBase: 'https://staging.kgpu.net/v1',
    }),
    false,
  );
});

test('a checkout, development mode, or an API base on this machine offers it', () => {
  assert.equal(simulatorReachable({ developmentMode: false, extensionPath: checkout, apiBase: 'https://api.kgpu.net/v1' }), true);
  assert.equal(simulatorReachable({ developmentMode: true, extensionPath: installed, apiBase: 'https://api.kgpu.net/v1' }), true);
  assert.equal(simulatorReachable({ developmentMode: false, extensionPath: installed, apiBase: 'http://127.0.0.1:8080/v1' }), true);
  assert.equal(
    simulatorReachable({
      developmentMode: false,
      extensionPath: installed,
      apiBase: 'https://api.kgpu.net/v1',
      envApiBase: 'http://localhost:9/v1',
    }),
    true,
  );
  assert.equal(simulatorReachable({ developmentMode: false, extensionPath: installed, apiBase: 'not a url' }), false);
});

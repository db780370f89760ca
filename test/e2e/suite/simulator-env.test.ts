// The runner's simulator reaches the extension host: its coordinates are in process.env and its
// REST API answers from inside VS Code.
import * as assert from 'node:assert/strict';
import { needsSimulator } from './helpers/simulator';

interface GpuModel {
  gpu_model: string;
  free: number;
  total: number;
  price_per_hour_credits: number;
}

describe('simulator environment', () => {
  const sim = needsSimulator();

  it('passes KGPU_API_BASE/TOKEN and the SSH bastion into the extension host', () => {
    const { apiBase, token, sshHost, sshPort } = sim();
    assert.match(apiBase, /^http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(token.length > 8, 'a token');
    assert.ok(sshHost.length > 0, 'an SSH host');
    // 0 = the simulator runs without its SSH bastion (as long as test/sim/bastion.ts is missing).
    assert.ok(Number.isInteger(sshPort) && sshPort >= 0 && sshPort < 65536, `an SSH port, got ${sshPort}`);
  });

  it('serves the fleet at GET /gpu-models to the extension host', async () => {
    const res = await fetch(`${sim().apiBase}/gpu-models`);
    assert.equal(res.status, 200);
    const models = (await res.json()) as GpuModel[];
    assert.ok(Array.isArray(models) && models.length > 0, `expected the list of GPU models, got ${JSON.stringify(models).slice(0, 200)}`);
    const rtx3090 = models.find((m) => m.gpu_model === 'rtx3090');
    assert.ok(rtx3090, `rtx3090 in the fleet: ${models.map((m) => m.gpu_model).join(', ')}`);
    assert.equal(rtx3090.price_per_hour_credits, 600);
    assert.ok(rtx3090.total >= rtx3090.free && rtx3090.free >= 0);
  });
});

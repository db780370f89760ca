/**
 * The in-pod token: the simulator limits it (403 for renting, exec and key rotation; its own pod
 * only), and the extension never uses it — inside a pod `$KGPU_API_TOKEN` holds it, and the token
 * choice ignores it there. (The full scope matrix: test/unit/sim/rest-account.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KgpuApiError } from '../../../src/kgpu/api/api-error';
import { KgpuClient } from '../../../src/kgpu/api/api-client';
import { chooseToken } from '../../../src/kgpu/api/token-choice';
import { startFleet } from './fleet-fixture';

test('the in-pod token gets 403 with a message saying to use the account token, and the extension never picks it from $KGPU_API_TOKEN', async (t) => {
  const f = await startFleet(1);
  t.after(() => f.stop());
  const pod = f.pods[0]!;
  // What a process in the pod sees (exec channels carry it; interactive shells do not).
  const podToken = (await pod.sh('printf %s "$KGPU_API_TOKEN"')).trim();
  assert.equal(podToken, f.sim.podToken(pod.podId));
  assert.match(podToken, /^kgpu_pod_/);
  const scoped = new KgpuClient({ apiBase: f.sim.apiBase, getToken: async () => podToken });
  t.after(() => scoped.close());
  assert.equal((await scoped.getPod(pod.podId)).pod_id, pod.podId, 'it may read its own pod');
  for (const call of [
    () => scoped.rent({ gpu_model: 'v100' }),
    () => scoped.exec(pod.podId, { cmd: ['true'] }),
    () => scoped.rotateSshKey(pod.podId, {}),
  ]) {
    const e = await call().then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(e instanceof KgpuApiError && e.status === 403, String(e));
    assert.match(e.userMessage, /in-pod tokens can only .* use your account token \(request [0-9a-f]{16}\)/);
    assert.ok(!e.userMessage.includes(podToken));
  }
  assert.equal(f.sim.state.pods.size, 1, 'nothing was rented with it');

  // VS Code running inside a pod: $KGPU_API_TOKEN is the in-pod token — not used, signed out instead.
  const inPod = chooseToken({
    apiBase: f.sim.apiBase,
    env: { KGPU_API_TOKEN: podToken, KGPU_API_BASE: f.sim.apiBase },
    environmentSuppressed: false,
  });
  assert.deepEqual(inPod, { token: undefined, source: 'none', rejected: false });
  const account = chooseToken({
    apiBase: f.sim.apiBase,
    env: { KGPU_API_TOKEN: f.sim.token, KGPU_API_BASE: f.sim.apiBase },
    environmentSuppressed: false,
  });
  assert.equal(account.token, f.sim.token, 'an account token in the environment is still used');
});

/** The rent wizard's steps and validation as plain functions, checked against what the simulator accepts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiFixture } from '../api/api-fixture';
import { KgpuApiError } from '../../../../src/kgpu/index';
import {
  balancePrecheck,
  buildRentRequest,
  gpuCountChoices,
  modelChoices,
  parseEnv,
  remainingGpuCap,
  validateCpu,
  validateDisk,
  validateGpuCount,
  validateImage,
  validateMemory,
  validateName,
} from '../../../../src/kgpu/model/rent-options';

test('field validation follows the contract limits', () => {
  assert.equal(validateName(''), undefined);
  assert.equal(validateName('my-run-2'), undefined);
  assert.match(validateName('My_Run')!, /lowercase/);
  assert.match(validateName('-x')!, /starting and ending/);
  assert.match(validateName('a'.repeat(31))!, /At most 30/);
  assert.equal(validateName('a'.repeat(30)), undefined);

  assert.equal(validateImage('kgpu-pytorch:latest'), undefined);
  assert.equal(validateImage('ghcr.io/org/img:v1.2'), undefined);
  assert.equal(validateImage('docker.io/library/python:3.12-slim'), undefined);
  assert.match(validateImage('not an image')!, /no spaces/);
  assert.match(validateImage('Ghcr.io/Org/Img')!, /Not an image reference/);

  assert.equal(validateCpu('16'), undefined);
  assert.equal(validateCpu('0.5'), undefined);
  assert.equal(validateCpu('500m'), undefined);
  assert.match(validateCpu('17')!, /At most 16/);
  assert.match(validateCpu('0')!, /more than 0/);
  assert.match(validateCpu('two')!, /number/);

  assert.equal(validateMemory('128Gi'), undefined);
  assert.equal(validateMemory('512Mi'), undefined);
  assert.match(validateMemory('129Gi')!, /At most 128Gi/);
  assert.match(validateMemory('16GB')!, /unit/);

  assert.equal(validateDisk('1'), undefined);
  assert.equal(validateDisk('2000'), undefined);
  assert.match(validateDisk('0')!, /1 to 2000/);
  assert.match(validateDisk('2001')!, /1 to 2000/);
  assert.match(validateDisk('1.5')!, /whole GiB/);
});

test('env parsing: pairs, quotes, reserved and malformed names', () => {
  assert.deepEqual(parseEnv('A=1 B="two words", C=\'x=y\''), { env: { A: '1', B: 'two words', C: 'x=y' } });
  assert.deepEqual(parseEnv(''), { env: {} });
  assert.match(parseEnv('1A=x').error!, /not a valid variable name/);
  assert.match(parseEnv('KGPU_API_TOKEN=x').error!, /set by kgpu/);
  assert.match(parseEnv('NVIDIA_VISIBLE_DEVICES=0').error!, /set by kgpu/);
  assert.match(parseEnv('A=1 garbage').error!, /Cannot read "garbage"/);
});

test('model and count choices from the live menu: sold-out disabled with the reason, counts capped by free GPUs and the 4-GPU cap', async (t) => {
  const { sim, client } = await apiFixture(t);
  await client.rent({ gpu_model: 'rtx4090' }); // the only one
  await client.rent({ gpu_model: 'v100', gpu_count: 2 });
  await sim.settled();
  const models = await client.listGpuModels();
  const pods = await client.listPods();
  const me = await client.getMe();
  const cap = remainingGpuCap(pods, me);
  assert.equal(cap, 1);
  const choices = modelChoices(models, cap);
  assert.deepEqual(
    choices.map((c) => c.label),
    ['rtx3080', 'rtx3090', 'v100', 'rtx4090', 'rtx5090'],
  );
  assert.match(choices.find((c) => c.label === 'rtx4090')!.disabledReason!, /sold out/);
  assert.equal(choices.find((c) => c.label === 'v100')!.disabledReason, undefined);
  const v100 = models.find((m) => m.gpu_model === 'v100')!;
  assert.deepEqual(gpuCountChoices(v100, cap), [1, 0]);
  assert.deepEqual(gpuCountChoices(v100, 4), [1, 2, 0]);
  assert.match(validateGpuCount(2, v100, cap)!, /at most 1 more GPU/);
  assert.match(validateGpuCount(5, v100, 4)!, /0 to 4/);

  // What we refuse, the simulator refuses too (409 quota), and what we accept it accepts.
  const refused = buildRentRequest({ gpu_model: 'v100', gpu_count: 2 }, { models, remainingCap: cap });
  assert.equal(refused.request, undefined);
  await assert.rejects(client.rent({ gpu_model: 'v100', gpu_count: 2 }), (e: unknown) => e instanceof KgpuApiError && e.status === 409);
  const ok = buildRentRequest(
    { gpu_model: 'v100', gpu_count: 1, name: 'last-one', memory: '32Gi', ephemeral_storage_gib: '200', env: 'SEED=1' },
    { models, remainingCap: cap },
  );
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.request, {
    gpu_model: 'v100',
    gpu_count: 1,
    name: 'last-one',
    memory: '32Gi',
    ephemeral_storage_gib: 200,
    env: { SEED: '1' },
  });
  const rented = await client.rent(ok.request!);
  const pod = await client.getPod(rented.pod_id);
  assert.equal(pod.memory, '32Gi');
  assert.equal(pod.ephemeral_storage_gib, 200);
});

test('buildRentRequest lists every problem, including an unknown model', async (t) => {
  const { client } = await apiFixture(t);
  const models = await client.listGpuModels();
  const r = buildRentRequest({ gpu_model: 'h100', gpu_count: 1, name: 'Bad Name', cpu: '99', env: '9X=1' }, { models, remainingCap: 4 });
  assert.equal(r.request, undefined);
  assert.equal(r.errors.length, 4);
  assert.match(r.errors[0], /no GPU model "h100" \(available: rtx3080/);
});

test('the balance pre-check agrees with the simulator: refused when a minute is unaffordable (402), warned under an hour', async (t) => {
  const { client } = await apiFixture(t, { credits: 10 });
  const models = await client.listGpuModels();
  const r4090 = models.find((m) => m.gpu_model === 'rtx4090')!; // 1 000/h ≈ 16.7 per minute
  const { credits } = await client.getBalance();
  const refused = balancePrecheck(credits, r4090.price_per_hour_credits, 1);
  assert.equal(refused.ok, false);
  assert.match(refused.message, /1 000 credits\/h \(\$0\.67\/h\).*balance is 10 credits.*Top up/);
  await assert.rejects(
    client.rent({ gpu_model: 'rtx4090' }),
    (e: unknown) => e instanceof KgpuApiError && e.status === 402 && /Not enough credits/.test(e.userMessage),
  );

  const r3080 = models.find((m) => m.gpu_model === 'rtx3080')!; // 300/h = 5 per minute
  const ok = balancePrecheck(credits, r3080.price_per_hour_credits, 1);
  assert.equal(ok.ok, true);
  assert.match(ok.message, /300 credits\/h \(\$0\.20\/h\); your 10 credits last about 2m — it will be released when credits run out/);
  await client.rent({ gpu_model: 'rtx3080' }); // accepted

  assert.match(balancePrecheck(100_000, 1000, 2).message, /2 000 credits\/h \(\$1\.33\/h\); your 100 000 credits last about 2d2h\.$/);
  assert.equal(balancePrecheck(100_000, 1000, 0).ratePerHour, 1000, 'a CPU-only pod bills the class rate');
});

/** Shared set-up for the REST client tests: a fresh simulator and a client on it, both closed after the test. */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { mintKeyPair } from '../../../sim/ssh-keys';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../sim/index';
import { KgpuClient, type KgpuClientOptions } from '../../../../src/kgpu/index';

export interface ApiFixture {
  sim: Simulator;
  client: KgpuClient;
  /** How often the token provider was asked, by forceRefresh. */
  tokenAsks: { normal: number; forced: number };
}

/** Fast retries by default (tests must be quick); everything else as the product uses it. */
export async function apiFixture(
  t: TestContext,
  simOptions: SimulatorOptions = {},
  clientOptions: Partial<KgpuClientOptions> = {},
): Promise<ApiFixture> {
  const sim = await startSimulator({ clockSpeed: 0, ...simOptions });
  t.after(() => sim.stop());
  const tokenAsks = { normal: 0, forced: 0 };
  const client = new KgpuClient({
    apiBase: sim.apiBase,
    getToken: async ({ forceRefresh }) => {
      if (forceRefresh) tokenAsks.forced++;
      else tokenAsks.normal++;
      return sim.token;
    },
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    rentSettleMs: 300,
    ...clientOptions,
  });
  t.after(() => client.close());
  return { sim, client, tokenAsks };
}

/**
 * A throwaway ed25519 key pair. ssh2 1.17.0's generateKeyPairSync('ed25519') yields an
 * unparseable key about 1 time in 256 (it strips a leading zero byte of the public key:
 * mscdex/ssh2#1513, #1390), so draw again until both halves parse.
 */
export function throwawayEd25519(): { public: string; private: string } {
  const k = mintKeyPair('kgpu-test');
  return { public: k.publicKey, private: k.privateKey };
}

/** What `p` rejects with; fails the test when it resolves. */
export async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return assert.fail('expected the call to fail');
}

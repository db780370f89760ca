// Simulator REST: minted SSH keys. ssh2 1.17's generateKeyPairSync('ed25519') emits a private key
// its own parser rejects ~4 times in 1 000; the simulator must never hand such a key out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils } from 'ssh2';
import { mintKeyPair, parsePublicKey } from '../../sim/ssh-keys';

test('every minted key pair parses (ssh2) and its fingerprint matches its public half', () => {
  for (let i = 0; i < 1500; i++) {
    const k = mintKeyPair('kgpu-test');
    const priv = utils.parseKey(k.privateKey);
    assert.ok(!(priv instanceof Error), `minted private key #${i} parses`);
    const pub = parsePublicKey(k.publicKey);
    assert.ok(!('error' in pub));
    assert.equal(pub.fingerprint, k.fingerprint);
  }
});

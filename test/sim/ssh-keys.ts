/** OpenSSH public keys: parsing, SHA256 fingerprints, minting ed25519 pairs (ssh2's utils). */
import { createHash } from 'node:crypto';
import { utils } from 'ssh2';

/** OpenSSH-style `SHA256:<base64, no padding>` of the key blob. */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Parses a one-line OpenSSH public key; returns its fingerprint, or an error message. */
export function parsePublicKey(line: string): { fingerprint: string; type: string } | { error: string } {
  const text = line.trim();
  if (text === '' || /[\r\n]/.test(text))
    return { error: 'ssh_pubkey must be one line of an OpenSSH public key ("ssh-ed25519 AAAA… comment")' };
  let parsed: ReturnType<typeof utils.parseKey>;
  try {
    parsed = utils.parseKey(text);
  } catch (e) {
    return { error: `ssh_pubkey is not an OpenSSH public key: ${(e as Error).message}` };
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error)
    return { error: `ssh_pubkey is not an OpenSSH public key${key instanceof Error ? `: ${key.message}` : ''}` };
  if (key.isPrivateKey()) return { error: 'ssh_pubkey is a private key — send only the public half (the .pub file)' };
  return { fingerprint: fingerprintOfBlob(key.getPublicSSH()), type: key.type };
}

/**
 * A fresh ed25519 pair: OpenSSH private key (PEM) and its public fingerprint. ssh2 1.17's
 * generateKeyPairSync('ed25519') emits a private key its own parser rejects ("Malformed OpenSSH
 * private key") about 4 times in 1 000 — clients built on ssh2 could not use it — so a pair is
 * only handed out once both halves parse.
 */
export function mintKeyPair(comment: string): { privateKey: string; publicKey: string; fingerprint: string } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    const priv = utils.parseKey(pair.private);
    if (priv instanceof Error || (Array.isArray(priv) ? priv[0] : priv) === undefined) continue;
    const parsed = parsePublicKey(pair.public);
    if ('error' in parsed) continue;
    return { privateKey: pair.private, publicKey: pair.public, fingerprint: parsed.fingerprint };
  }
  throw new Error('could not mint an ed25519 key pair that ssh2 can parse');
}

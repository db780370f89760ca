/**
 * Bearer tokens. Account tokens (`kgpu_<random>`) are kept as salted hashes only; reissuing
 * revokes the old one. In-pod tokens are `kgpu_pod_<podId>.<sig>` with an HMAC signature, valid
 * while the rental lives.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function newAccountToken(): string {
  return `kgpu_${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}`;
}

export function hashToken(token: string, salt: string): string {
  return createHash('sha256').update(salt).update('\0').update(token).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export class PodTokenSigner {
  constructor(private readonly secret: Buffer) {}

  mint(podId: string): string {
    return `kgpu_pod_${podId}.${this.sign(podId)}`;
  }

  /** The pod id a well-formed, correctly signed in-pod token names, or undefined. */
  verify(token: string): string | undefined {
    const m = /^kgpu_pod_([a-z0-9-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
    if (!m) return undefined;
    const expected = Buffer.from(this.sign(m[1]));
    const given = Buffer.from(m[2]);
    return expected.length === given.length && timingSafeEqual(expected, given) ? m[1] : undefined;
  }

  private sign(podId: string): string {
    return createHmac('sha256', this.secret).update(`pod:${podId}`).digest('base64url').slice(0, 32);
  }
}

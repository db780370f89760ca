/**
 * The simulator's accounts and who a bearer token is: a new account (approved, with its token's
 * salted hash — never the token), and the authentication of an account token or an in-pod token
 * (valid while its rental lives). SimState (state.ts) keeps the accounts.
 */
import { randomBytes } from 'node:crypto';
import type { Account, PodRecord, Principal } from './state-records';
import { hashToken, newAccountToken, sameHash, type PodTokenSigner } from './tokens';

/** The `n`th account, with its token (`o.token` or a new one). */
export function newAccount(
  n: number,
  o: { credits?: number; name?: string; email?: string; role?: Account['role']; token?: string },
  defaultCredits: number,
): { account: Account; token: string } {
  const token = o.token ?? newAccountToken();
  const salt = randomBytes(16).toString('hex');
  const account: Account = {
    user_id: `usr_${String(n).padStart(4, '0')}${randomBytes(3).toString('hex')}`,
    email: o.email ?? `user${n}@sim.kgpu.test`,
    name: o.name ?? `Sim User ${n}`,
    role: o.role ?? 'user',
    status: 'approved',
    credits: o.credits ?? defaultCredits,
    salt,
    tokenHash: hashToken(token, salt),
  };
  return { account, token };
}

/** Who a bearer token is, or why not. */
export function authenticate(
  token: string,
  accounts: Map<string, Account>,
  pods: Map<string, PodRecord>,
  signer: PodTokenSigner,
): Principal | { error: string; message: string } {
  if (token.startsWith('kgpu_pod_')) {
    const podId = signer.verify(token);
    const pod = podId ? pods.get(podId) : undefined;
    if (!pod) return { error: 'invalid_token', message: 'this in-pod token is not valid' };
    if (pod.ended_at !== null)
      return {
        error: 'token_expired',
        message: `this in-pod token died when rental ${pod.pod_id} ended (${pod.end_reason}); use your account token`,
      };
    const account = accounts.get(pod.owner)!;
    return { kind: 'pod', account, pod };
  }
  for (const account of accounts.values()) {
    if (sameHash(hashToken(token, account.salt), account.tokenHash)) {
      if (account.status !== 'approved')
        return { error: 'account_not_approved', message: `this account is ${account.status}; wait for approval or contact a maintainer` };
      return { kind: 'account', account };
    }
  }
  return { error: 'invalid_token', message: 'the token is invalid or has been revoked; copy a fresh one from the dashboard (Reissue)' };
}

/**
 * Which account token to send: the one stored (SecretStorage) for the API base in use, else
 * `$KGPU_API_TOKEN` when it belongs to that base — `$KGPU_API_BASE`, or kgpu's default base when
 * that is unset (never a base some setting chose: the environment's token is for the environment's
 * server) — and the user has not signed out this session; never a token the server refused with
 * 401 (until a new sign-in), and never an in-pod token (`kgpu_pod_…`, what `$KGPU_API_TOKEN` holds
 * inside a pod).
 */
import { DEFAULT_API_BASE } from '../model/setting-resolution';

export type TokenSource = 'stored' | 'environment' | 'none';

export interface TokenChoiceInputs {
  /** kgpu.apiBase in use (no trailing slash). */
  apiBase: string;
  /** The stored token and the API base it was stored for. */
  stored?: { token: string; apiBase: string };
  env: { KGPU_API_TOKEN?: string; KGPU_API_BASE?: string };
  /** "Sign out" was used: ignore $KGPU_API_TOKEN. */
  environmentSuppressed: boolean;
  /** A token that got 401. */
  rejectedToken?: string;
}

export interface TokenChoice {
  /** What to send; undefined = signed out. */
  token?: string;
  /** Where the candidate came from (also when it was rejected). */
  source: TokenSource;
  /** The candidate was refused with 401: show the signed-out state with "Sign in again". */
  rejected: boolean;
}

export function chooseToken(i: TokenChoiceInputs): TokenChoice {
  const stored = i.stored && i.stored.apiBase === i.apiBase && i.stored.token ? i.stored.token : undefined;
  const envToken = i.env.KGPU_API_TOKEN?.trim();
  const envBase = i.env.KGPU_API_BASE?.trim().replace(/\/+$/, '');
  // Inside a pod $KGPU_API_TOKEN is the scope-limited in-pod token (kgpu_pod_…), not an account
  // token: never use it (renting, exec and key rotation would all be 403s).
  const inPod = envToken?.startsWith('kgpu_pod_') ?? false;
  const environment =
    envToken && !inPod && !i.environmentSuppressed && (envBase ? envBase === i.apiBase : i.apiBase === DEFAULT_API_BASE)
      ? envToken
      : undefined;
  const candidate = stored ?? environment;
  const source: TokenSource = stored ? 'stored' : environment ? 'environment' : 'none';
  const rejected = candidate !== undefined && candidate === i.rejectedToken;
  return { token: rejected ? undefined : candidate, source, rejected };
}

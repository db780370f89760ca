/**
 * Request and response shapes of the kgpu REST API (`$KGPU_API_BASE`, e.g. https://api.kgpu.net/v1),
 * as the contract (shared/seeds/kgpu-service.md) documents them. Field names are the wire names
 * (snake_case) so a response can be handed around without translation.
 */

/** `GET /gpu-models` (public): one GPU class of the live fleet. */
export interface GpuModel {
  gpu_model: string;
  total: number;
  free: number;
  price_per_hour_credits: number;
}

/** `GET /me`. `quota` is the account's limits (the contract: 4 concurrent GPUs). */
export interface Me {
  user_id: string;
  email: string;
  name: string;
  role: string;
  status: string;
  credits: number;
  quota: Quota;
  /** `account` for the account token, `pod` for an in-pod token (then `pod_id` is its pod). */
  token_scope?: 'account' | 'pod';
  pod_id?: string;
}

/** Account limits as `GET /me` reports them. */
export interface Quota {
  /** Concurrent GPUs across all rentals (the contract: 4). */
  max_gpus?: number;
  gpus_in_use?: number;
  max_cpu_per_pod?: number;
  max_memory_gib_per_pod?: number;
  max_ephemeral_storage_gib?: number;
  object_quota_bytes?: number;
  object_max_bytes?: number;
  [key: string]: unknown;
}

/** `GET /balance`: just the credit balance. */
export interface Balance {
  credits: number;
}

/** `GET /cluster`: per-node availability. */
export interface ClusterNode {
  hostname: string;
  gpu_model: string;
  total: number;
  busy: number;
  free?: number;
  /** Live pods on the node. */
  pods?: number;
  [key: string]: unknown;
}

export interface Cluster {
  nodes: ClusterNode[];
}

export type PodPhase = 'Pending' | 'Running' | 'Terminating' | 'Ended' | 'Failed';

/** Why a rental ended (`end_reason`). Unknown future values are kept as plain strings. */
export type EndReason =
  | 'returned'
  | 'auto_idle'
  | 'out_of_credits'
  | 'evicted_by_kubelet:OutOfephemeral-storage'
  | 'evicted_by_kubelet:OOMKilled'
  | `start_failed:${string}`
  | (string & {});

/** `GET /pods/{id}` and each entry of `GET /pods`. Times are ISO-8601 strings. */
export interface Pod {
  pod_id: string;
  name: string;
  gpu_model: string;
  gpu_count: number;
  image: string;
  cpu: string;
  memory: string;
  ephemeral_storage_gib: number;
  /** Credits per hour. The simulator sends the rental's total here (N × per-GPU) and the per-GPU
   *  rate in `price_per_gpu_hour_credits`; use cost.ts `podRatePerHour(pod)` rather than reading it. */
  price_per_hour_credits: number;
  price_per_gpu_hour_credits?: number;
  /** Credits charged so far, and refunded (failed starts). */
  credits_spent?: number;
  refunded_credits?: number;
  phase: PodPhase;
  ready: boolean;
  /** Set while `Pending` (e.g. `starting`, `ImagePullBackOff: …`). */
  pending_reason?: string | null;
  created_at: string;
  ready_at?: string | null;
  ended_at?: string | null;
  end_reason?: EndReason | null;
  /** SSH key fingerprint currently pinned to the rental (null once ended). */
  ssh_fingerprint?: string | null;
  ssh_host?: string;
  ssh_port?: number;
  ssh_user?: string;
  /** Worker hostname. */
  node?: string | null;
  /** Idle clock: last SSH activity, and whether the 12 h idle warning is up. */
  last_activity_at?: string | null;
  idle_seconds?: number | null;
  idle_warning?: boolean | null;
  [key: string]: unknown;
}

/** The phases in which a rental is alive (and billing). */
export const LIVE_PHASES: readonly PodPhase[] = ['Pending', 'Running'];

export function isLivePod(pod: Pick<Pod, 'phase'>): boolean {
  return LIVE_PHASES.includes(pod.phase);
}

/** `POST /pods` body. Every field is optional; defaults per the contract. */
export interface RentRequest {
  /** Human label, DNS-safe, ≤ 30 chars. Default `"rent"`. */
  name?: string;
  /** Default `kgpu-pytorch:latest`. */
  image?: string;
  /** Default `"rtx4090"`. */
  gpu_model?: string;
  /** 0–4, default 1 (0 = CPU-only pod, still billed at the class rate). */
  gpu_count?: number;
  /** CPU cores as a string, ≤ 16, default `"2"`. */
  cpu?: string;
  /** RAM, ≤ 128Gi, default `"16Gi"`. */
  memory?: string;
  /** 1–2000, default 100. */
  ephemeral_storage_gib?: number;
  env?: Record<string, string> | null;
  /** Your one-line OpenSSH public key; omitted → the server mints a key pair (private half returned once). */
  ssh_pubkey?: string | null;
}

/** `ssh_access` on `POST /pods` and `PATCH /pods/{id}`. `private_key` only when the server minted the key. */
export interface SshAccess {
  fingerprint: string;
  private_key?: string;
  ssh_host: string;
  ssh_port: number;
  ssh_user: string;
}

/** `POST /pods` response. */
export interface RentResponse {
  pod_id: string;
  gpu_model: string;
  gpu_count?: number;
  phase?: PodPhase;
  price_per_hour_credits: number;
  balance_after_precheck: number;
  ssh_access?: SshAccess;
  [key: string]: unknown;
}

/** What `KgpuClient.rent` returns: the response, and whether it was reconstructed after a lost
 *  response (then `ssh_access` comes from a key rotation and `balance_after_precheck` from `GET /balance`). */
export interface RentResult extends RentResponse {
  /** True when the POST's response was lost and the pod was found again through `GET /pods`. */
  recovered: boolean;
  /** The idempotency marker we sent as `env.KGPU_CLIENT_REQUEST_ID`. */
  client_request_id: string;
}

/** `PATCH /pods/{id}` body: a pubkey to pin, or nothing to have a fresh key pair minted. */
export interface RotateKeyRequest {
  ssh_pubkey?: string;
}

export interface RotateKeyResponse {
  pod_id?: string;
  ssh_access: SshAccess;
  [key: string]: unknown;
}

/** `DELETE /pods/{id}` response (the pod as it is after the release). */
export type ReleaseResponse = Partial<Pod> & { pod_id: string; [key: string]: unknown };

/** `POST /pods/{id}/exec` body. */
export interface ExecRequest {
  cmd: string[];
  /** Piped to the command, ≤ 1 MiB. */
  stdin?: string | null;
  /** 1–300, default 60. */
  timeout_seconds?: number;
}

export interface ExecResponse {
  exit_code: number;
  stdout: string;
  stderr: string;
  duration_ms: number;
  truncated: boolean;
}

/** `POST /objects` body. */
export interface CreateObjectRequest {
  label?: string;
  /** Announced size; lets the server refuse an over-quota upload up front. */
  size_bytes?: number;
}

/** `POST /objects` response: a presigned PUT valid 1 h; the object expires 24 h after creation. */
export interface CreatedObject {
  object_id: string;
  put_url: string;
  put_url_expires_at?: string;
  expires_at: string;
  max_bytes?: number;
  [key: string]: unknown;
}

/** `GET /objects` entry and `GET /objects/{id}` (the latter with a fresh `get_url`, reusable for 1 h). */
export interface TransitObject {
  object_id: string;
  label?: string | null;
  /** Null until uploaded. */
  size_bytes?: number | null;
  uploaded?: boolean;
  created_at?: string;
  expires_at: string;
  get_url?: string;
  get_url_expires_at?: string;
  [key: string]: unknown;
}

/** The JSON body of every kgpu error response. */
export interface ErrorBody {
  /** Machine-readable code, e.g. `insufficient_credits`, `quota_exceeded`, `pod_not_ready`. */
  error: string;
  message?: string;
  /** 5xx: echoes X-Request-ID. */
  trace_id?: string;
  /** 422: the offending field (when the server names it in a field of its own). */
  field?: string;
  [key: string]: unknown;
}

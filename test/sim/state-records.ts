/**
 * The simulator state's records and rules of thumb: accounts, pods (with their timers and the
 * runtime's handle), who a token is, the options the state is built with, the contract's limits.
 */
import type { SimClockImpl, ClockTimer } from './clock';
import type { Bastion, EndReason, Phase, PodHandle, PodReach, PodRuntime } from './contracts';
import type { Fleet } from './fleet';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const IDLE_WARN_MS = 12 * HOUR;
export const IDLE_REAP_MS = 24 * HOUR;
export const START_FAILED_RELEASE_MS = 5 * MINUTE;
export const MAX_GPUS_PER_ACCOUNT = 4;

export interface Account {
  user_id: string;
  email: string;
  name: string;
  role: 'user' | 'maintainer';
  /** `approved` accounts may use the API; anything else gets 401 `account_not_approved`. */
  status: 'approved' | 'pending' | 'suspended';
  credits: number;
  readonly salt: string;
  tokenHash: string;
}

export interface PodRecord {
  pod_id: string;
  owner: string;
  name: string;
  image: string;
  gpu_model: string;
  gpu_count: number;
  cpu: string;
  memory: string;
  ephemeral_storage_gib: number;
  /** ephemeral_storage_gib in bytes (× diskBytesPerGib). */
  diskLimitBytes: number;
  env: Record<string, string> | null;
  /** Per-hour price of this rental: per-GPU rate × max(1, gpu_count). */
  price_per_hour_credits: number;
  price_per_gpu_hour_credits: number;
  phase: Phase;
  ready: boolean;
  pending_reason: string | null;
  created_at: number;
  ready_at: number | null;
  ended_at: number | null;
  end_reason: EndReason | null;
  last_activity_at: number;
  idle_warning: boolean;
  credits_spent: number;
  refunded_credits: number;
  fingerprint: string;
  podToken: string;
  allocation: { hostname: string; count: number }[];
  handle: PodHandle | undefined;
  creating: Promise<void> | undefined;
  coldStartDone: boolean;
  timers: ClockTimer[];
  billTimer: ClockTimer | undefined;
  teardown: Promise<void> | undefined;
}

export type Principal = { kind: 'account'; account: Account } | { kind: 'pod'; account: Account; pod: PodRecord };

export interface SshAccessOut {
  fingerprint: string;
  private_key?: string;
  ssh_host: string;
  ssh_port: number;
  ssh_user: 'kgpu';
}

export interface StateOptions {
  clock: SimClockImpl;
  fleet: Fleet;
  runtime: PodRuntime;
  credits: number;
  coldStartMs: number;
  /** The simulator's own API base (injected into pods as KGPU_API_BASE). */
  apiBase: () => string;
  /** How pods reach the API base and the object store from their own network namespace. */
  podReach?: () => PodReach | undefined;
  /** The package index pods use instead of PyPI (their PIP_INDEX_URL and UV_INDEX_URL). */
  packageIndexUrl?: () => string | undefined;
  bastion: () => Bastion | undefined;
  /** Bytes of disk per GiB of ephemeral_storage_gib (tests shrink it to test eviction). */
  diskBytesPerGib?: number;
  /** Keep a token across restarts (from --state-dir). */
  initialToken?: string;
}

/** Kubelet-made endings (evictions, a container that could not be created) leave the pod Failed. */
export function defaultFinalPhase(reason: EndReason): 'Ended' | 'Failed' {
  return reason.startsWith('evicted_by_kubelet:') || reason === 'start_failed:CreateContainerError' ? 'Failed' : 'Ended';
}

/** Credits as shown on the wire (6 decimals); the state keeps exact values. */
export const roundCredits = (n: number): number => Math.round(n * 1e6) / 1e6;

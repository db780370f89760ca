/**
 * Whether a rental may start, in the contract's order and words: enough credits for the first
 * minute (402 insufficient_credits), a key not pinned to another live rental (409 duplicate_key),
 * the account's GPU cap (409 quota_exceeded), free GPUs of the model (409 no_capacity).
 */
import { ApiError } from './api-error';
import type { RentSpec } from './pod-spec';
import { MAX_GPUS_PER_ACCOUNT, roundCredits as round } from './state-records';

export interface RentCheck {
  spec: RentSpec;
  balance: number;
  perHour: number;
  perMinute: number;
  /** The key's fingerprint is pinned to another live rental. */
  keyTaken: boolean;
  /** GPUs the account's live pods hold. */
  inUse: number;
  /** Free GPUs of the model. */
  free: number;
}

/** Throws the contract's ApiError when the rental may not start. */
export function assertRentable(c: RentCheck): void {
  const { spec, perHour, perMinute, inUse, free } = c;
  if (c.balance + 1e-9 < perMinute) {
    throw new ApiError(
      402,
      'insufficient_credits',
      `not enough credits to rent ${spec.gpu_count}× ${spec.gpu_model}: balance ${round(c.balance)}, the first minute costs ${round(perMinute)} (${perHour} per hour); ask a maintainer to top up`,
      {
        balance: round(c.balance),
        needed_per_hour: perHour,
        needed_per_minute: round(perMinute),
      },
    );
  }
  if (c.keyTaken) {
    throw new ApiError(
      409,
      'duplicate_key',
      'this public key is already pinned to another live rental (the bastion routes each key to exactly one pod); use a distinct key per rental, or omit ssh_pubkey to get a minted one',
      { field: 'ssh_pubkey' },
    );
  }
  if (inUse + spec.gpu_count > MAX_GPUS_PER_ACCOUNT) {
    throw new ApiError(
      409,
      'quota_exceeded',
      `renting ${spec.gpu_count} GPU(s) would exceed your cap of ${MAX_GPUS_PER_ACCOUNT} concurrent GPUs (${inUse} in use); release a pod or rent fewer`,
      {
        gpus_in_use: inUse,
        max_gpus: MAX_GPUS_PER_ACCOUNT,
      },
    );
  }
  if (spec.gpu_count > free) {
    throw new ApiError(
      409,
      'no_capacity',
      `only ${free} ${spec.gpu_model} GPU(s) free right now, ${spec.gpu_count} requested; pick another model (GET /gpu-models) or try later`,
      {
        gpu_model: spec.gpu_model,
        free,
        requested: spec.gpu_count,
      },
    );
  }
}

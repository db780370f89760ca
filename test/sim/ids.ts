/** Identifiers the simulator hands out. */
import { randomBytes } from 'node:crypto';

/** X-Request-ID: 8 random bytes as 16 hex chars. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

/** `gpu-<name>-<unix seconds>-<6 hex>`, like the contract's `gpu-rent-1779745883-ab12cd`. */
export function newPodId(name: string, nowMs: number): string {
  return `gpu-${name}-${Math.floor(nowMs / 1000)}-${randomBytes(3).toString('hex')}`;
}

export function newObjectId(): string {
  return `obj_${randomBytes(8).toString('hex')}`;
}

/**
 * The rent wizard's logic as plain functions: the model and GPU-count choices, each advanced
 * field's validation with the contract's limits (checked as the user types), the balance
 * pre-check, and turning answers (or an options object from tests/e2e) into a `POST /pods` body.
 *
 * Contract limits: name DNS-safe ≤ 30 chars; gpu_count 0–4 and ≤ 4 concurrent GPUs per account;
 * cpu ≤ 16 cores; memory ≤ 128 GiB; ephemeral_storage_gib 1–2000; env extra variables.
 */
import { isLivePod, type GpuModel, type Me, type Pod, type RentRequest } from '../api/api-types';
import { formatCredits, formatDollarsPerHour, formatDuration, rentalRatePerHour, timeLeftMs } from './cost';

export const DEFAULT_IMAGE = 'kgpu-pytorch:latest';
export const DEFAULT_NAME = 'rent';
export const DEFAULT_CPU = '2';
export const DEFAULT_MEMORY = '16Gi';
export const DEFAULT_DISK_GIB = 100;
export const MAX_GPUS_PER_RENTAL = 4;
export const DEFAULT_GPU_QUOTA = 4;
export const MAX_CPU = 16;
export const MAX_MEMORY_GIB = 128;
export const MAX_DISK_GIB = 2000;

/** undefined = valid; else what is wrong and what is allowed. */
export type Validation = string | undefined;

/** GPUs the account may still rent: quota (default 4) minus GPUs of live pods. */
export function remainingGpuCap(pods: readonly Pod[], me?: Pick<Me, 'quota'>): number {
  const quota = typeof me?.quota?.max_gpus === 'number' ? me.quota.max_gpus : DEFAULT_GPU_QUOTA;
  const inUse = pods.filter(isLivePod).reduce((n, p) => n + (p.gpu_count ?? 0), 0);
  return Math.max(0, quota - inUse);
}

export function gpusInUse(pods: readonly Pod[]): number {
  return pods.filter(isLivePod).reduce((n, p) => n + (p.gpu_count ?? 0), 0);
}

export interface ModelChoice {
  model: GpuModel;
  label: string;
  description: string;
  /** Why it cannot be picked (sold out, cap reached); undefined when it can. */
  disabledReason?: string;
}

/** One choice per model, cheapest first; sold-out ones (or all, at the GPU cap) carry the reason. */
export function modelChoices(models: readonly GpuModel[], remainingCap: number): ModelChoice[] {
  return [...models]
    .sort((a, b) => a.price_per_hour_credits - b.price_per_hour_credits || a.gpu_model.localeCompare(b.gpu_model))
    .map((m) => {
      const description = `${m.free}/${m.total} free · ${formatCredits(m.price_per_hour_credits)}/h · ${formatDollarsPerHour(m.price_per_hour_credits)} per GPU`;
      let disabledReason: string | undefined;
      if (m.free <= 0) disabledReason = `sold out: all ${m.total} in use right now`;
      else if (remainingCap <= 0) disabledReason = `you already use your ${DEFAULT_GPU_QUOTA}-GPU cap; release a pod first`;
      return { model: m, label: m.gpu_model, description, disabledReason };
    });
}

/** GPU counts offered: 1…min(4, free, cap), plus 0 (CPU-only, still billed at the class rate). */
export function gpuCountChoices(model: GpuModel, remainingCap: number): number[] {
  const max = Math.min(MAX_GPUS_PER_RENTAL, Math.max(0, model.free), remainingCap);
  const counts: number[] = [];
  for (let n = 1; n <= max; n++) counts.push(n);
  counts.push(0);
  return counts;
}

export function validateGpuCount(value: number, model: GpuModel | undefined, remainingCap: number): Validation {
  if (!Number.isInteger(value) || value < 0 || value > MAX_GPUS_PER_RENTAL)
    return `GPU count must be a whole number from 0 to ${MAX_GPUS_PER_RENTAL}.`;
  if (value > remainingCap)
    return `You can rent at most ${remainingCap} more GPU${remainingCap === 1 ? '' : 's'} (4 concurrent GPUs per account); release a pod or rent fewer.`;
  if (model && value > model.free) return `Only ${model.free} ${model.gpu_model} ${model.free === 1 ? 'is' : 'are'} free right now.`;
  return undefined;
}

/** DNS-safe label: lowercase letters, digits and '-', starting and ending alphanumeric, ≤ 30 chars. Empty = "rent". */
export function validateName(value: string): Validation {
  const v = value.trim();
  if (v === '') return undefined;
  if (v.length > 30) return `At most 30 characters (this is ${v.length}).`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(v))
    return 'Use lowercase letters, digits and "-", starting and ending with a letter or digit (DNS-safe).';
  return undefined;
}

/** A container image reference: the default, or e.g. ghcr.io/org/img:tag, docker.io/library/python:3.12. */
export function validateImage(value: string): Validation {
  const v = value.trim();
  if (v === '') return undefined;
  if (/\s/.test(v)) return 'An image reference has no spaces.';
  if (
    !/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(
      v,
    )
  ) {
    return 'Not an image reference; use e.g. kgpu-pytorch:latest or ghcr.io/org/image:tag (lowercase repository).';
  }
  return undefined;
}

/** CPU cores: a positive number ≤ 16 ("2", "0.5") or millicores ("500m"). Empty = "2". */
export function validateCpu(value: string): Validation {
  const v = value.trim();
  if (v === '') return undefined;
  const cores = parseCpu(v);
  if (cores === undefined) return 'CPU cores as a number, e.g. 2, 0.5 or 500m.';
  if (cores <= 0) return 'CPU must be more than 0.';
  if (cores > MAX_CPU) return `At most ${MAX_CPU} CPU cores per rental.`;
  return undefined;
}

export function parseCpu(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(v.trim());
  if (!m) return undefined;
  return m[2] ? Number(m[1]) / 1000 : Number(m[1]);
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1 / 2 ** 30,
  Ki: 1 / 2 ** 20,
  Mi: 1 / 1024,
  Gi: 1,
  Ti: 1024,
  K: 1e3 / 2 ** 30,
  M: 1e6 / 2 ** 30,
  G: 1e9 / 2 ** 30,
  T: 1e12 / 2 ** 30,
};

/** Memory in GiB from a Kubernetes quantity ("16Gi", "512Mi", "8G"), undefined when malformed. */
export function parseMemoryGiB(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * MEMORY_UNITS[m[2] ?? ''];
}

/** RAM as a Kubernetes quantity ≤ 128Gi. Empty = "16Gi". */
export function validateMemory(value: string): Validation {
  const v = value.trim();
  if (v === '') return undefined;
  const gib = parseMemoryGiB(v);
  if (gib === undefined) return 'Memory with a unit, e.g. 16Gi or 512Mi.';
  if (gib <= 0) return 'Memory must be more than 0.';
  if (gib > MAX_MEMORY_GIB) return `At most ${MAX_MEMORY_GIB}Gi per rental.`;
  return undefined;
}

/** Scratch disk in whole GiB, 1–2000. Empty = 100. */
export function validateDisk(value: string): Validation {
  const v = value.trim();
  if (v === '') return undefined;
  if (!/^\d+$/.test(v)) return 'Disk size in whole GiB, e.g. 100.';
  const n = Number(v);
  if (n < 1 || n > MAX_DISK_GIB) return `Disk must be from 1 to ${MAX_DISK_GIB} GiB.`;
  return undefined;
}

const RESERVED_ENV = /^(KGPU_API_TOKEN|KGPU_API_BASE|KGPU_GPU_ID|KGPU_RENT_ID|KGPU_CLIENT_REQUEST_ID|NVIDIA_VISIBLE_DEVICES)$/;

/** "KEY=VALUE KEY2=VALUE2" (space, comma or newline separated; values may be "quoted"). */
export function parseEnv(value: string): { env: Record<string, string>; error?: string } {
  const env: Record<string, string> = {};
  const v = value.trim();
  if (v === '') return { env };
  const re = /\s*([^=\s,]+)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,]*)\s*(?:[,\n]|$)?/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(v)) !== null && m[0] !== '') {
    consumed = re.lastIndex;
    const key = m[1];
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      return { env, error: `"${key}" is not a valid variable name (letters, digits, _; not starting with a digit).` };
    if (RESERVED_ENV.test(key)) return { env, error: `${key} is set by kgpu inside the pod; choose another name.` };
    let val = m[2];
    if (val.startsWith('"')) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (val.startsWith("'")) val = val.slice(1, -1);
    env[key] = val;
  }
  if (consumed < v.length)
    return { env, error: `Cannot read "${v.slice(consumed).trim()}": use KEY=VALUE pairs separated by spaces or commas.` };
  return { env };
}

export function validateEnv(value: string): Validation {
  return parseEnv(value).error;
}

export interface BalanceCheck {
  ok: boolean;
  /** Credits per hour this rental bills. */
  ratePerHour: number;
  /** "1 000 credits/h ($0.67/h); your 99 000 credits last about 4d3h at your total burn." */
  message: string;
}

/**
 * Before sending POST /pods: can the balance pay for this rental (plus what already runs)?
 * Refuses when the balance cannot cover one minute at the new total burn; warns (ok) when it
 * lasts under an hour.
 */
export function balancePrecheck(balance: number, pricePerHourCredits: number, gpuCount: number, currentBurnPerHour = 0): BalanceCheck {
  const ratePerHour = rentalRatePerHour(pricePerHourCredits, gpuCount);
  const total = ratePerHour + currentBurnPerHour;
  const cost = `${formatCredits(ratePerHour)}/h (${formatDollarsPerHour(ratePerHour)})`;
  const left = timeLeftMs(balance, total);
  if (balance < total / 60) {
    return {
      ok: false,
      ratePerHour,
      message: `This rental costs ${cost}, but your balance is ${formatCredits(balance)} — not enough for a minute. Top up your credits or pick a cheaper GPU or fewer GPUs.`,
    };
  }
  const lasts = `your ${formatCredits(balance)} last about ${formatDuration(left)}${currentBurnPerHour > 0 ? ' with the pods already running' : ''}`;
  if (left < 3_600_000) {
    return { ok: true, ratePerHour, message: `This rental costs ${cost}; ${lasts} — it will be released when credits run out.` };
  }
  return { ok: true, ratePerHour, message: `This rental costs ${cost}; ${lasts}.` };
}

/** The wizard's answers / the options object `executeCommand('kgpu.rent', {...})` accepts. */
export interface RentAnswers {
  gpu_model?: string;
  gpu_count?: number;
  name?: string;
  image?: string;
  cpu?: string;
  memory?: string;
  ephemeral_storage_gib?: number | string;
  env?: Record<string, string> | string;
}

/** Validate answers and build the POST /pods body (without the SSH key). Returns the problems when invalid. */
export function buildRentRequest(
  a: RentAnswers,
  ctx: { models?: readonly GpuModel[]; remainingCap: number },
): { request?: RentRequest; errors: string[] } {
  const errors: string[] = [];
  const model = a.gpu_model ? ctx.models?.find((m) => m.gpu_model === a.gpu_model) : undefined;
  if (!a.gpu_model) errors.push('Pick a GPU model.');
  else if (ctx.models && !model)
    errors.push(`kgpu has no GPU model "${a.gpu_model}" (available: ${ctx.models.map((m) => m.gpu_model).join(', ')}).`);
  const count = a.gpu_count ?? 1;
  const countError = validateGpuCount(count, model, ctx.remainingCap);
  if (countError) errors.push(countError);
  const check = (label: string, value: string | undefined, f: (v: string) => Validation): void => {
    const e = value === undefined ? undefined : f(value);
    if (e) errors.push(`${label}: ${e}`);
  };
  check('Name', a.name, validateName);
  check('Image', a.image, validateImage);
  check('CPU', a.cpu, validateCpu);
  check('Memory', a.memory, validateMemory);
  const disk = a.ephemeral_storage_gib === undefined ? undefined : String(a.ephemeral_storage_gib);
  check('Disk', disk, validateDisk);
  let env: Record<string, string> | undefined;
  if (typeof a.env === 'string') {
    const parsed = parseEnv(a.env);
    if (parsed.error) errors.push(`Environment: ${parsed.error}`);
    env = Object.keys(parsed.env).length ? parsed.env : undefined;
  } else if (a.env) {
    for (const k of Object.keys(a.env)) {
      const e = parseEnv(`${k}=x`).error;
      if (e) errors.push(`Environment: ${e}`);
    }
    env = Object.keys(a.env).length ? { ...a.env } : undefined;
  }
  if (errors.length) return { errors };
  const request: RentRequest = { gpu_model: a.gpu_model, gpu_count: count };
  if (a.name?.trim()) request.name = a.name.trim();
  if (a.image?.trim()) request.image = a.image.trim();
  if (a.cpu?.trim()) request.cpu = a.cpu.trim();
  if (a.memory?.trim()) request.memory = a.memory.trim();
  if (disk?.trim()) request.ephemeral_storage_gib = Number(disk);
  if (env) request.env = env;
  return { request, errors };
}

/** "rtx4090 × 2 · 16Gi · 100 GiB" — a one-line summary for the confirmation. */
export function summarizeRequest(r: RentRequest): string {
  return [
    `${r.gpu_model ?? 'rtx4090'} × ${r.gpu_count ?? 1}`,
    r.name ?? DEFAULT_NAME,
    r.image ?? DEFAULT_IMAGE,
    `${r.cpu ?? DEFAULT_CPU} CPU`,
    r.memory ?? DEFAULT_MEMORY,
    `${r.ephemeral_storage_gib ?? DEFAULT_DISK_GIB} GiB disk`,
  ].join(' · ');
}

/** Validation of the `POST /pods` body: every field and default of the contract, 422 naming the field. */
import { invalid } from './api-error';
import { DEFAULT_IMAGE } from './fleet';
import { parsePublicKey } from './ssh-keys';

export interface RentSpec {
  name: string;
  image: string;
  gpu_model: string;
  gpu_count: number;
  cpu: string;
  memory: string;
  memoryBytes: number;
  ephemeral_storage_gib: number;
  env: Record<string, string> | null;
  ssh_pubkey: string | null;
  /** Fingerprint of ssh_pubkey when given. */
  fingerprint: string | null;
}

export const LIMITS = {
  maxGpusPerPod: 4,
  maxCpu: 16,
  maxMemoryBytes: 128 * 2 ** 30,
  minDiskGib: 1,
  maxDiskGib: 2000,
  nameMax: 30,
} as const;

const UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** Kubernetes-style quantity ("16Gi", "512Mi", "1.5Gi") in bytes, or undefined. */
export function parseMemory(q: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? ''];
}

/** CPU cores ("2", "0.5", "500m") as a number, or undefined. */
export function parseCpu(q: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(q);
  if (!m) return undefined;
  return m[2] ? Number(m[1]) / 1000 : Number(m[1]);
}

export function validateRent(body: Record<string, unknown>, models: readonly string[]): RentSpec {
  const name = body.name ?? 'rent';
  if (typeof name !== 'string') throw invalid('name', 'name must be a string');
  if (name.length > LIMITS.nameMax || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    throw invalid(
      'name',
      `name must be DNS-safe (lower-case letters, digits and '-', not starting or ending with '-') and at most ${LIMITS.nameMax} characters`,
    );
  }
  const image = body.image ?? DEFAULT_IMAGE;
  if (typeof image !== 'string' || image.trim() === '' || image.length > 255 || /\s/.test(image))
    throw invalid('image', 'image must be an image reference such as "kgpu-pytorch:latest" or "ghcr.io/org/img:tag"');

  const gpuModel = body.gpu_model ?? 'rtx4090';
  if (typeof gpuModel !== 'string') throw invalid('gpu_model', 'gpu_model must be a string; see GET /gpu-models');
  if (!models.includes(gpuModel))
    throw invalid('gpu_model', `unknown gpu_model "${gpuModel.slice(0, 40)}"; available: ${models.join(', ')} (GET /gpu-models)`);

  const gpuCount = body.gpu_count ?? 1;
  if (typeof gpuCount !== 'number' || !Number.isInteger(gpuCount) || gpuCount < 0 || gpuCount > LIMITS.maxGpusPerPod) {
    throw invalid('gpu_count', `gpu_count must be an integer from 0 to ${LIMITS.maxGpusPerPod}`);
  }

  const cpuRaw = body.cpu ?? '2';
  const cpuText = typeof cpuRaw === 'number' ? String(cpuRaw) : cpuRaw;
  const cpu = typeof cpuText === 'string' ? parseCpu(cpuText) : undefined;
  if (typeof cpuText !== 'string' || cpu === undefined || !(cpu > 0) || cpu > LIMITS.maxCpu) {
    throw invalid('cpu', `cpu must be a number of cores above 0 and at most ${LIMITS.maxCpu}, e.g. "2"`);
  }

  const memory = body.memory ?? '16Gi';
  const memoryBytes = typeof memory === 'string' ? parseMemory(memory) : undefined;
  if (typeof memory !== 'string' || memoryBytes === undefined || !(memoryBytes > 0) || memoryBytes > LIMITS.maxMemoryBytes) {
    throw invalid('memory', 'memory must be a quantity above 0 and at most 128Gi, e.g. "16Gi" or "512Mi"');
  }

  const disk = body.ephemeral_storage_gib ?? 100;
  if (typeof disk !== 'number' || !Number.isInteger(disk) || disk < LIMITS.minDiskGib || disk > LIMITS.maxDiskGib) {
    throw invalid('ephemeral_storage_gib', `ephemeral_storage_gib must be an integer from ${LIMITS.minDiskGib} to ${LIMITS.maxDiskGib}`);
  }

  const envRaw = body.env ?? null;
  let env: Record<string, string> | null = null;
  if (envRaw !== null) {
    if (typeof envRaw !== 'object' || Array.isArray(envRaw))
      throw invalid('env', 'env must be an object of string values, e.g. {"WANDB_MODE":"offline"}');
    env = {};
    for (const [k, v] of Object.entries(envRaw as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalid('env', `env name "${k.slice(0, 40)}" is not a valid variable name`);
      if (typeof v !== 'string') throw invalid('env', `env.${k} must be a string`);
      env[k] = v;
    }
  }

  const pub = body.ssh_pubkey ?? null;
  let fingerprint: string | null = null;
  if (pub !== null) {
    if (typeof pub !== 'string') throw invalid('ssh_pubkey', 'ssh_pubkey must be a string (one line of an OpenSSH public key)');
    const parsed = parsePublicKey(pub);
    if ('error' in parsed) throw invalid('ssh_pubkey', parsed.error);
    fingerprint = parsed.fingerprint;
  }
  return {
    name,
    image,
    gpu_model: gpuModel,
    gpu_count: gpuCount,
    cpu: cpuText,
    memory,
    memoryBytes,
    ephemeral_storage_gib: disk,
    env,
    ssh_pubkey: pub,
    fingerprint,
  };
}

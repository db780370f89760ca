/**
 * The simulated fleet: GPU classes with counts and prices (default: the contract's five models and
 * prices), the images that exist besides the default one, and a plausible node layout for /cluster.
 *
 * Fleet file (--fleet FILE), JSON:
 *   { "models": [{ "gpu_model": "rtx4090", "total": 2, "price_per_hour_credits": 1000 }, …],
 *     "images": ["ghcr.io/acme/train:1"] }
 * or just the array of models.
 */
import { readFileSync } from 'node:fs';

export const DEFAULT_IMAGE = 'kgpu-pytorch:latest';

export interface FleetModel {
  gpu_model: string;
  total: number;
  price_per_hour_credits: number;
}

export interface Fleet {
  models: FleetModel[];
  /** Images that exist besides DEFAULT_IMAGE. */
  images: string[];
}

export const DEFAULT_FLEET: Fleet = {
  models: [
    { gpu_model: 'rtx3080', total: 1, price_per_hour_credits: 300 },
    { gpu_model: 'rtx3090', total: 2, price_per_hour_credits: 600 },
    { gpu_model: 'rtx4090', total: 1, price_per_hour_credits: 1000 },
    { gpu_model: 'rtx5090', total: 1, price_per_hour_credits: 1400 },
    { gpu_model: 'v100', total: 4, price_per_hour_credits: 600 },
  ],
  images: [],
};

/** Validates a fleet given as an object (from a file or from options). */
export function parseFleet(value: unknown, where = 'fleet'): Fleet {
  const raw = Array.isArray(value) ? { models: value } : value;
  if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: expected an object with "models" or an array of models`);
  const r = raw as Record<string, unknown>;
  if (!Array.isArray(r.models) || r.models.length === 0) throw new Error(`${where}: "models" must be a non-empty array`);
  const seen = new Set<string>();
  const models = r.models.map((m, i): FleetModel => {
    const o = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    const name = o.gpu_model;
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,30}$/.test(name))
      throw new Error(`${where}: models[${i}].gpu_model must be a lower-case name`);
    if (seen.has(name)) throw new Error(`${where}: gpu_model "${name}" is listed twice`);
    seen.add(name);
    const total = o.total;
    if (typeof total !== 'number' || !Number.isInteger(total) || total < 0)
      throw new Error(`${where}: models[${i}].total must be an integer ≥ 0`);
    const price = o.price_per_hour_credits;
    if (typeof price !== 'number' || !(price > 0)) throw new Error(`${where}: models[${i}].price_per_hour_credits must be a number > 0`);
    return { gpu_model: name, total, price_per_hour_credits: price };
  });
  const images = r.images === undefined ? [] : r.images;
  if (!Array.isArray(images) || images.some((x) => typeof x !== 'string' || x === ''))
    throw new Error(`${where}: "images" must be an array of image names`);
  return { models, images: images as string[] };
}

export function loadFleetFile(path: string): Fleet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the fleet file ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`the fleet file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseFleet(json, path);
}

export interface NodeLayout {
  hostname: string;
  gpu_model: string;
  total: number;
}

/** Workers hold up to 8 GPUs of one class; hostnames like `kgpu-w03`. */
export function layoutNodes(fleet: Fleet): NodeLayout[] {
  const nodes: NodeLayout[] = [];
  for (const m of [...fleet.models].sort((a, b) => a.gpu_model.localeCompare(b.gpu_model))) {
    let left = m.total;
    do {
      const n = Math.min(8, left);
      nodes.push({ hostname: `kgpu-w${String(nodes.length + 1).padStart(2, '0')}`, gpu_model: m.gpu_model, total: n });
      left -= n;
    } while (left > 0);
  }
  return nodes;
}

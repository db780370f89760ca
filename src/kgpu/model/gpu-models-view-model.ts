/**
 * Rows of the GPU Models view, from the public `GET /gpu-models`: free/total, credits per hour and
 * dollars per hour; sold-out models visibly so (contextValue gpuModel.soldOut, no Rent action).
 */
import type { GpuModel } from '../api/api-types';
import { formatCreditsPerHour, formatDollarsPerHour } from './cost';
import { md, type TreeItemModel } from './tree-item-model';

/** Hardware names of the contract's pricing table; unknown classes show their id. */
const HARDWARE: Record<string, string> = {
  rtx3080: 'RTX 3080',
  rtx3090: 'RTX 3090',
  v100: 'Tesla V100 32 GB',
  rtx4090: 'RTX 4090',
  rtx5090: 'RTX 5090',
  b200: 'B200',
};

export function hardwareName(model: string): string {
  return HARDWARE[model] ?? model.toUpperCase();
}

export function isSoldOut(m: GpuModel): boolean {
  return m.free <= 0;
}

/** The menu ordered by price, then name (cheapest first, as the contract's table). */
export function sortGpuModels(models: readonly GpuModel[]): GpuModel[] {
  return [...models].sort((a, b) => a.price_per_hour_credits - b.price_per_hour_credits || a.gpu_model.localeCompare(b.gpu_model));
}

export function gpuModelItem(m: GpuModel): TreeItemModel {
  const soldOut = isSoldOut(m);
  const availability = soldOut ? `sold out (0/${m.total})` : `${m.free}/${m.total} free`;
  return {
    id: `gpuModel:${m.gpu_model}`,
    label: m.gpu_model,
    // Dollars before credits: a narrow sidebar truncates the end.
    description: `${availability} · ${formatDollarsPerHour(m.price_per_hour_credits)} · ${formatCreditsPerHour(m.price_per_hour_credits)}`,
    tooltip: [
      `**${md(hardwareName(m.gpu_model))}** (\`${m.gpu_model}\`)`,
      '',
      soldOut ? `All ${m.total} in use right now — try again later or pick another model.` : `${m.free} of ${m.total} free right now`,
      `${formatCreditsPerHour(m.price_per_hour_credits)} per GPU (${formatDollarsPerHour(m.price_per_hour_credits)}), billed per minute`,
    ].join('  \n'),
    contextValue: soldOut ? 'gpuModel.soldOut' : 'gpuModel.available',
    icon: soldOut ? { id: 'circle-slash', color: 'disabledForeground' } : { id: 'chip', color: 'charts.green' },
  };
}

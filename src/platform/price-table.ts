import type { KgpuServices } from './services';

/** Prices per GPU model from the GPU menu (credits per hour), for a run's or a sweep's cost. */
export function priceTable(services: KgpuServices): ReadonlyMap<string, number> | undefined {
  const models = services.pods.gpuModels;
  return models ? new Map(models.map((m) => [m.gpu_model, m.price_per_hour_credits])) : undefined;
}

/**
 * The fleet's GPU nodes: how many GPUs each has busy, what is free per model, and where a rental's
 * GPUs are taken from (and given back when it ends).
 */
import { layoutNodes, type Fleet, type NodeLayout } from './fleet';
import type { PodRecord } from './state-records';

export class GpuNodes {
  private readonly nodes: (NodeLayout & { busy: number })[];

  constructor(
    private readonly fleet: Fleet,
    /** Every pod the state knows (for the per-node pod counts). */
    private readonly pods: () => Iterable<PodRecord>,
  ) {
    this.nodes = layoutNodes(fleet).map((n) => ({ ...n, busy: 0 }));
  }

  gpuModels(): { gpu_model: string; total: number; free: number; price_per_hour_credits: number }[] {
    return [...this.fleet.models]
      .sort((a, b) => a.gpu_model.localeCompare(b.gpu_model))
      .map((m) => ({
        gpu_model: m.gpu_model,
        total: m.total,
        free: this.freeGpus(m.gpu_model),
        price_per_hour_credits: m.price_per_hour_credits,
      }));
  }

  cluster(): { hostname: string; gpu_model: string; total: number; busy: number; free: number; pods: number }[] {
    return this.nodes.map((n) => ({
      hostname: n.hostname,
      gpu_model: n.gpu_model,
      total: n.total,
      busy: n.busy,
      free: n.total - n.busy,
      pods: [...this.pods()].filter((p) => p.ended_at === null && p.allocation.some((a) => a.hostname === n.hostname)).length,
    }));
  }

  freeGpus(model: string): number {
    return this.nodes.filter((n) => n.gpu_model === model).reduce((s, n) => s + n.total - n.busy, 0);
  }

  modelNames(): string[] {
    return this.fleet.models.map((m) => m.gpu_model);
  }

  /** Take `count` GPUs of `model`, node by node. */
  allocate(model: string, count: number): { hostname: string; count: number }[] {
    const out: { hostname: string; count: number }[] = [];
    let left = count;
    for (const n of this.nodes) {
      if (left === 0) break;
      if (n.gpu_model !== model) continue;
      const take = Math.min(left, n.total - n.busy);
      if (take > 0) {
        n.busy += take;
        left -= take;
        out.push({ hostname: n.hostname, count: take });
      }
    }
    if (count === 0) {
      // CPU-only pods still land on a worker of their class (no GPU taken).
      const n = this.nodes.find((x) => x.gpu_model === model);
      if (n) out.push({ hostname: n.hostname, count: 0 });
    }
    return out;
  }

  /** Give the pod's GPUs back (it ended). */
  free(pod: PodRecord): void {
    for (const a of pod.allocation) {
      const n = this.nodes.find((x) => x.hostname === a.hostname);
      if (n) n.busy -= a.count;
    }
    pod.allocation = pod.allocation.map((a) => ({ ...a, count: 0 }));
  }
}

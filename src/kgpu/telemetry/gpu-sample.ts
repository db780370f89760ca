/**
 * One tick of `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total
 * --format=csv,noheader,nounits`: a line per GPU ("0, 87, 14540, 24564"), and how the editor
 * shows it: `GPU 87% · 14.2/24 GiB` (one GPU), `4 GPUs 87% · 56.8/96 GiB` (several: mean
 * utilisation, summed memory).
 */
export const TELEMETRY_QUERY = 'index,utilization.gpu,memory.used,memory.total';

/** The nvidia-smi argv of the 1 Hz loop (one process for all GPUs). */
export function telemetryArgv(intervalMs = 1000): string[] {
  return [
    'nvidia-smi',
    `--query-gpu=${TELEMETRY_QUERY}`,
    '--format=csv,noheader,nounits',
    '-lms',
    String(Math.max(100, Math.round(intervalMs))),
  ];
}

export interface GpuReading {
  index: number;
  /** Percent, 0–100. */
  utilization: number;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
}

export interface GpuSnapshot {
  /** Clock time of the tick (the telemetry's `now()`). */
  at: number;
  gpus: GpuReading[];
}

/** One CSV line; undefined for anything else ("[N/A]", a header, garbage). */
export function parseGpuLine(line: string): GpuReading | undefined {
  const parts = line.split(',').map((s) => s.trim());
  if (parts.length !== 4 || line.length > 200) return undefined;
  const [index, utilization, used, total] = parts.map((p) => (/^\d+(\.\d+)?$/.test(p) ? Number(p) : NaN));
  if (![index, utilization, used, total].every(Number.isFinite) || !Number.isInteger(index) || index > 64) return undefined;
  return { index, utilization: Math.min(100, utilization), memoryUsedMiB: used, memoryTotalMiB: total };
}

function gib(mib: number): string {
  const r = Math.round((mib / 1024) * 10) / 10;
  return Number.isInteger(r) || r >= 100 ? String(Math.round(r)) : r.toFixed(1);
}

/** Mean utilisation (rounded) and summed memory of a snapshot. */
export function summarize(gpus: readonly GpuReading[]): { utilization: number; usedMiB: number; totalMiB: number } {
  const n = Math.max(1, gpus.length);
  return {
    utilization: Math.round(gpus.reduce((a, g) => a + g.utilization, 0) / n),
    usedMiB: gpus.reduce((a, g) => a + g.memoryUsedMiB, 0),
    totalMiB: gpus.reduce((a, g) => a + g.memoryTotalMiB, 0),
  };
}

/** `GPU 87% · 14.2/24 GiB`, `4 GPUs 87% · 56.8/96 GiB`; '' for no GPUs. */
export function formatGpuSummary(gpus: readonly GpuReading[]): string {
  if (gpus.length === 0) return '';
  const s = summarize(gpus);
  return `${gpus.length === 1 ? 'GPU' : `${gpus.length} GPUs`} ${s.utilization}% · ${formatGiB(s.usedMiB, s.totalMiB)}`;
}

/** `14.2/24 GiB` */
export function formatGiB(usedMiB: number, totalMiB: number): string {
  return `${gib(usedMiB)}/${gib(totalMiB)} GiB`;
}

/** One line per GPU for a tooltip: `GPU 0: 87% · 14.2/24 GiB`. */
export function formatGpuLines(gpus: readonly GpuReading[]): string[] {
  return gpus.map((g) => `GPU ${g.index}: ${Math.round(g.utilization)}% · ${formatGiB(g.memoryUsedMiB, g.memoryTotalMiB)}`);
}

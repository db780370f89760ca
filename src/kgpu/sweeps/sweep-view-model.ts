/**
 * What the Sweeps view shows (issue 23), without `vscode`: a sweep's row (name, progress, cost so
 * far) and one row per run — its arguments, state, duration, cost and the last value of each
 * metric, with its best value when an earlier one was better — sortable by a metric's last or best
 * value (runs without it last), by duration or cost, or in run order.
 */
import { formatRunCredits, formatRunDuration } from '../jobs/job-log-text';
import type { SweepPlan, SweepRun } from './sweep-plan';

export type SweepSort =
  { by: 'index' } | { by: 'duration' } | { by: 'cost' } | { by: 'metric'; metric: string; descending?: boolean; best?: boolean };

export interface SweepRunRow {
  index: number;
  label: string;
  description: string;
  tooltip: string;
  state: SweepRun['state'];
  podId?: string;
  jobId?: string;
  metrics: Record<string, number>;
  /** The best value of each metric (its last value when no better one came before). */
  best: Record<string, number>;
  durationMs?: number;
  credits?: number;
  contextValue: string;
}

export interface SweepRow {
  id: string;
  label: string;
  description: string;
  contextValue: string;
}

/** Every metric name some run reported, sorted. */
export function sweepMetricNames(plan: SweepPlan): string[] {
  return [...new Set(plan.runs.flatMap((r) => Object.keys(r.metrics)))].sort();
}

function formatMetric(v: number): string {
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString();
}

export function sweepRow(plan: SweepPlan): SweepRow {
  const count = (s: SweepRun['state']) => plan.runs.filter((r) => r.state === s).length;
  const credits = plan.runs.reduce((sum, r) => sum + (r.credits ?? 0), 0);
  const parts = [`${count('succeeded')}/${plan.runs.length} done`];
  if (count('running')) parts.push(`${count('running')} running`);
  if (count('queued')) parts.push(`${count('queued')} queued`);
  if (count('failed')) parts.push(`${count('failed')} failed`);
  if (count('stopped')) parts.push(`${count('stopped')} stopped`);
  parts.push(`${plan.pods.length} pod${plan.pods.length === 1 ? '' : 's'}`);
  if (credits > 0) parts.push(formatRunCredits(credits));
  return {
    id: plan.id,
    label: plan.name,
    description: parts.join(' · '),
    contextValue: plan.state === 'running' ? 'sweep-running' : 'sweep-ended',
  };
}

export function sweepRunRows(plan: SweepPlan, sort: SweepSort = { by: 'index' }): SweepRunRow[] {
  const rows = plan.runs.map((r): SweepRunRow => {
    const best = { ...r.metrics, ...r.best };
    const metrics = Object.entries(r.metrics).map(
      ([k, v]) => `${k} ${formatMetric(v)}${best[k] !== v ? ` (best ${formatMetric(best[k])})` : ''}`,
    );
    const parts = [r.state === 'failed' && r.end ? `failed (${r.end})` : r.state];
    if (r.durationMs !== undefined) parts.push(formatRunDuration(r.durationMs));
    if (r.credits !== undefined) parts.push(formatRunCredits(r.credits));
    parts.push(...metrics);
    const tooltip = [
      `#${r.index + 1}: ${r.args.join(' ') || '(no arguments)'}`,
      `State: ${r.state}${r.end ? ` — ${r.end}` : ''}`,
      r.podId ? `Pod: ${r.podId}${r.jobId ? `, job ${r.jobId}` : ''}` : undefined,
      r.requeuedFrom ? `Re-queued after pod ${r.requeuedFrom.podId} ended` : undefined,
      ...metrics,
    ].filter((x): x is string => !!x);
    return {
      index: r.index,
      label: `#${r.index + 1} ${r.args.join(' ')}`.trim(),
      description: parts.join(' · '),
      tooltip: tooltip.join('\n'),
      state: r.state,
      podId: r.podId,
      jobId: r.jobId,
      metrics: { ...r.metrics },
      best,
      durationMs: r.durationMs,
      credits: r.credits,
      contextValue: r.jobId ? `sweep-run-job` : 'sweep-run',
    };
  });
  const key = (r: SweepRunRow): number | undefined =>
    sort.by === 'duration'
      ? r.durationMs
      : sort.by === 'cost'
        ? r.credits
        : sort.by === 'metric'
          ? (sort.best ? r.best : r.metrics)[sort.metric]
          : r.index;
  const dir = sort.by === 'metric' && sort.descending ? -1 : 1;
  return rows.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka === undefined || kb === undefined) return ka === kb ? a.index - b.index : ka === undefined ? 1 : -1;
    return (ka - kb) * dir || a.index - b.index;
  });
}

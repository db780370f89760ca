/**
 * The metrics a run printed (issue 23): JSON lines `{"metric": "loss", "value": 0.12}` or flat
 * objects of numbers `{"loss": 0.12, "acc": 0.9}` (the lines of a metrics.jsonl), anywhere in the
 * log — also behind torchrun's `[default<rank>]:` prefixes. The last value of each metric counts,
 * and the best one is kept (the lowest, or the highest for accuracy-like names: higherIsBetter).
 * Lines are bounded (a longer line is skipped), chunks may cut lines and UTF-8 characters.
 */
import { StringDecoder } from 'node:string_decoder';

const MAX_LINE = 64 * 1024;
const RANK_PREFIX = /^(?:\[[A-Za-z_]*\d+\]:)+/;

export type Metrics = Record<string, number>;

/** Whether a bigger value of this metric is better (accuracy, F1, reward…); otherwise (loss,
 *  error, perplexity and anything unknown) the smallest is the best. */
export function higherIsBetter(name: string): boolean {
  return /acc|f1|auc|precision|recall|reward|score|bleu|rouge|iou|map\b|top\d|hit/i.test(name);
}

/** The better of two values of a metric. */
export function betterOf(name: string, a: number | undefined, b: number): number {
  if (a === undefined) return b;
  return higherIsBetter(name) ? Math.max(a, b) : Math.min(a, b);
}

/** Best values merged: each metric's better one. */
export function mergeBest(into: Metrics, from: Metrics): Metrics {
  for (const [k, v] of Object.entries(from)) into[k] = betterOf(k, into[k], v);
  return into;
}

/** One line → the metrics it reports (empty when it is not a metrics line). */
export function metricsOfLine(line: string): Metrics {
  const t = line.replace(RANK_PREFIX, '').replace(/^.*\r/s, '').trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return {};
  let o: unknown;
  try {
    o = JSON.parse(t);
  } catch {
    return {};
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return {};
  const r = o as Record<string, unknown>;
  if (typeof r.metric === 'string' && typeof r.value === 'number' && Number.isFinite(r.value)) return { [r.metric]: r.value };
  if ('metric' in r) return {};
  const out: Metrics = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && Number.isFinite(v) && k !== 'step' && k !== 'epoch') out[k] = v;
  return out;
}

export class MetricsReader {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private skipping = false;
  readonly last: Metrics = {};
  /** The best value of each metric over every line (higherIsBetter decides which is best). */
  readonly best: Metrics = {};

  push(chunk: Buffer): void {
    this.take(this.decoder.write(chunk));
  }

  end(): void {
    this.take(this.decoder.end() + '\n');
  }

  private take(text: string): void {
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      const line = this.partial + text.slice(from, nl);
      this.partial = '';
      if (!this.skipping) {
        const m = metricsOfLine(line);
        Object.assign(this.last, m);
        mergeBest(this.best, m);
      }
      this.skipping = false;
      from = nl + 1;
    }
    if (this.skipping) return;
    this.partial += text.slice(from);
    if (this.partial.length > MAX_LINE) {
      this.partial = '';
      this.skipping = true;
    }
  }
}

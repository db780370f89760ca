/**
 * The metrics a run printed (issue 23): JSON lines `{"metric": "loss", "value": 0.12}` or flat
 * objects of numbers `{"loss": 0.12, "acc": 0.9}` (the lines of a metrics.jsonl), anywhere in the
 * log — also behind torchrun's `[default<rank>]:` prefixes. The last value of each metric counts.
 * Lines are bounded (a longer line is skipped), chunks may cut lines and UTF-8 characters.
 */
import { StringDecoder } from 'node:string_decoder';

const MAX_LINE = 64 * 1024;
const RANK_PREFIX = /^(?:\[[A-Za-z_]*\d+\]:)+/;

export type Metrics = Record<string, number>;

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
      if (!this.skipping) Object.assign(this.last, metricsOfLine(line));
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

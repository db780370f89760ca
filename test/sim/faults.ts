/**
 * Fault injection on the REST side (the SSH side lives on `sim.bastion`).
 *
 * Route patterns: `METHOD /path` pieces — `method` ('*' or omitted = any) and a path where `*`
 * matches one segment and `**` any rest; a path not starting with /v1 or /_objects is taken
 * relative to /v1 (`/pods/*` ≡ `/v1/pods/*`).
 *
 * Spec strings (`--faults`), comma- or semicolon-separated:
 *   fail:POST /pods:503[:count[:error_code]]    latency:GET /pods/*:800[:count]    drop:GET /me[:count]
 * or JSON: [{"type":"fail","method":"POST","path":"/pods","status":503,"count":1,"error":"…"}, …]
 */
import type { EndReason } from './contracts';

export interface FailRule {
  type: 'fail';
  method?: string;
  path: string;
  status: number;
  /** How many matching requests fail (default 1; Infinity = until cleared). */
  count?: number;
  /** `error` code in the JSON body (default derived from the status). */
  error?: string;
  message?: string;
}

export interface LatencyRule {
  type: 'latency';
  method?: string;
  path: string;
  ms: number;
  count?: number;
}

export interface DropRule {
  type: 'drop';
  method?: string;
  path: string;
  count?: number;
}

export type FaultRule = FailRule | LatencyRule | DropRule;

interface Active {
  rule: FaultRule;
  left: number;
  re: RegExp;
  method: string;
}

export interface RestFaultDecision {
  latencyMs: number;
  fail?: FailRule;
  drop: boolean;
}

export class RestFaults {
  private rules: Active[] = [];
  /** Counters the tests assert on. */
  readonly counters = { failed: 0, dropped: 0, delayed: 0 };

  constructor(private readonly endPodImpl: (podId: string, reason: EndReason) => Promise<void>) {}

  add(rule: FaultRule): void {
    validateRule(rule);
    this.rules.push({ rule, left: rule.count ?? 1, re: pathRegex(rule.path), method: (rule.method ?? '*').toUpperCase() });
  }

  /** Fail the next `count` requests matching `METHOD path` with `status` (JSON error body). */
  failNext(method: string, path: string, status: number, o: { count?: number; error?: string; message?: string } = {}): void {
    this.add({ type: 'fail', method, path, status, ...o });
  }

  /** Delay the next `count` matching requests (default: every one until cleared) by `ms` wall ms. */
  addLatency(method: string, path: string, ms: number, o: { count?: number } = {}): void {
    this.add({ type: 'latency', method, path, ms, count: o.count ?? Infinity });
  }

  /** Destroy the connection of the next `count` matching requests without answering (a network error). */
  dropNext(method: string, path: string, o: { count?: number } = {}): void {
    this.add({ type: 'drop', method, path, count: o.count ?? 1 });
  }

  /** End a pod now with any contract end_reason (its processes die, its SSH connections close). */
  endPod(podId: string, reason: EndReason): Promise<void> {
    return this.endPodImpl(podId, reason);
  }

  clear(): void {
    this.rules = [];
  }

  /** Applied by the REST layer to every request. */
  decide(method: string, path: string): RestFaultDecision {
    const d: RestFaultDecision = { latencyMs: 0, drop: false };
    for (const a of this.rules) {
      if (a.left <= 0) continue;
      if (a.method !== '*' && a.method !== method) continue;
      if (!a.re.test(path)) continue;
      if (a.rule.type === 'latency') {
        d.latencyMs += a.rule.ms;
        a.left--;
        this.counters.delayed++;
      } else if (a.rule.type === 'drop' && !d.drop && !d.fail) {
        d.drop = true;
        a.left--;
        this.counters.dropped++;
      } else if (a.rule.type === 'fail' && !d.drop && !d.fail) {
        d.fail = a.rule;
        a.left--;
        this.counters.failed++;
      }
    }
    this.rules = this.rules.filter((a) => a.left > 0);
    return d;
  }
}

function validateRule(r: FaultRule): void {
  if (typeof r.path !== 'string' || !r.path.startsWith('/'))
    throw new Error(`fault rule: path must start with "/", got ${JSON.stringify(r.path)}`);
  if (r.count !== undefined && !(r.count > 0)) throw new Error('fault rule: count must be > 0');
  if (r.type === 'fail' && !(Number.isInteger(r.status) && r.status >= 400 && r.status <= 599))
    throw new Error(`fault rule: status must be 400–599, got ${r.status}`);
  if (r.type === 'latency' && !(r.ms >= 0)) throw new Error('fault rule: latency ms must be ≥ 0');
  if (!['fail', 'latency', 'drop'].includes(r.type))
    throw new Error(`fault rule: unknown type ${JSON.stringify((r as { type: unknown }).type)}`);
}

export function pathRegex(pattern: string): RegExp {
  const full = pattern.startsWith('/v1') || pattern.startsWith('/_objects') ? pattern : `/v1${pattern}`;
  const body = full
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}/?$`);
}

/** `--faults` value: JSON (a rule or an array of rules) or the spec string described above. */
export function parseFaultSpec(spec: string): FaultRule[] {
  const text = spec.trim();
  if (text === '') return [];
  if (text.startsWith('[') || text.startsWith('{')) {
    const v = JSON.parse(text) as FaultRule | FaultRule[];
    return Array.isArray(v) ? v : [v];
  }
  return text.split(/[;,]/).map((item) => {
    const parts = item.trim().split(':');
    const [type, route] = parts;
    const m = /^\s*(?:([A-Za-z*]+)\s+)?(\/\S*)\s*$/.exec(route ?? '');
    if (!m) throw new Error(`--faults: cannot read "${item}" (expected e.g. fail:POST /pods:503:1)`);
    const method = m[1] ?? '*';
    const path = m[2];
    const num = (s: string | undefined, what: string): number | undefined => {
      if (s === undefined || s === '') return undefined;
      const n = s === 'inf' ? Infinity : Number(s);
      if (!(n >= 0)) throw new Error(`--faults: ${what} in "${item}" must be a number`);
      return n;
    };
    if (type === 'fail')
      return {
        type,
        method,
        path,
        status: num(parts[2], 'status') ?? 500,
        count: num(parts[3], 'count'),
        error: parts[4] || undefined,
      } satisfies FailRule;
    if (type === 'latency')
      return { type, method, path, ms: num(parts[2], 'ms') ?? 0, count: num(parts[3], 'count') ?? Infinity } satisfies LatencyRule;
    if (type === 'drop') return { type, method, path, count: num(parts[2], 'count') } satisfies DropRule;
    throw new Error(`--faults: unknown fault type "${type}" in "${item}" (fail, latency, drop)`);
  });
}

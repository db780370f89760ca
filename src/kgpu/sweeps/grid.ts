/**
 * A sweep's argument sets (issue 23): a grid typed as an argument line — every value with commas
 * is a list of alternatives, the sets are their product, in the order typed:
 * `--lr 1e-3,3e-4 --bs 32,64 --epochs 2` → 4 sets — or a `sweep.json` beside the script:
 *
 *   { "grid": { "--lr": [0.001, 0.0003], "--bs": [32, 64] }, "args": ["--epochs", "2"] }
 *   { "runs": [["--lr", "0.001"], ["--lr", "0.0003", "--bs", "64"]], "args": [...] }
 *
 * (`args` are appended to every set; a grid key whose value list is `[true]`/`[false]` is a flag
 * present or absent). A value that itself contains a comma can only come from sweep.json.
 */
import { parseArgumentLine } from '../api/exec-request';
import { KgpuError } from '../util/kgpu-error';

export const MAX_SWEEP_RUNS = 256;

export interface SweepArgs {
  /** Each run's argv (after the script). */
  runs: string[][];
}

export class SweepSpecError extends KgpuError {
  constructor(
    message: string,
    /** Where in the sweep file (keys and indexes), when the error is about one of its values. */
    readonly at?: (string | number)[],
  ) {
    super('sweeps', 'invalid_spec', message);
    this.name = 'SweepSpecError';
  }
}

function product(axes: string[][][]): string[][] {
  let out: string[][] = [[]];
  for (const axis of axes) {
    const next: string[][] = [];
    for (const prefix of out) for (const alt of axis) next.push([...prefix, ...alt]);
    out = next;
    if (out.length > MAX_SWEEP_RUNS)
      throw new SweepSpecError(`The sweep has more than ${MAX_SWEEP_RUNS} argument sets; make the grid smaller.`);
  }
  return out;
}

/** "--lr 1e-3,3e-4 --bs 32,64" → the product of the alternatives. */
export function parseSweepLine(line: string): SweepArgs {
  const parsed = parseArgumentLine(line);
  if (parsed.error !== undefined) throw new SweepSpecError(parsed.error);
  const axes: string[][][] = [];
  for (const word of parsed.argv) {
    if (!word.startsWith('-') && word.includes(',')) {
      const alts = word.split(',');
      if (alts.some((a) => a === '')) throw new SweepSpecError(`"${word}" has an empty alternative.`);
      axes.push(alts.map((a) => [a]));
    } else {
      axes.push([[word]]);
    }
  }
  const runs = product(axes);
  if (runs.length < 1) throw new SweepSpecError('The sweep has no argument sets.');
  return { runs };
}

function scalar(v: unknown, where: string, at: (string | number)[]): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new SweepSpecError(`${where}: ${JSON.stringify(v)} is not a string or a number.`, at);
}

/** The text of a sweep.json → argument sets. */
export function parseSweepJson(text: string): SweepArgs {
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new SweepSpecError(`sweep.json is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return sweepOfSpec(spec, 'sweep.json');
}

/** A parsed sweep file (sweep.json, sweep.yaml) → argument sets; `file` names it in errors. */
export function sweepOfSpec(spec: unknown, file: string): SweepArgs {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec))
    throw new SweepSpecError(`${file} must be an object with "grid" or "runs".`);
  const o = spec as { grid?: unknown; runs?: unknown; args?: unknown };
  const common = o.args === undefined ? [] : Array.isArray(o.args) ? o.args.map((a, i) => scalar(a, `args[${i}]`, ['args', i])) : [];
  if (o.args !== undefined && !Array.isArray(o.args)) throw new SweepSpecError(`${file}: "args" must be a list.`, ['args']);
  let runs: string[][];
  if (o.runs !== undefined) {
    if (!Array.isArray(o.runs) || o.runs.length === 0)
      throw new SweepSpecError(`${file}: "runs" must be a non-empty list of argument lists.`, ['runs']);
    if (o.runs.length > MAX_SWEEP_RUNS) throw new SweepSpecError(`The sweep has more than ${MAX_SWEEP_RUNS} argument sets.`);
    runs = o.runs.map((r, i) => {
      if (!Array.isArray(r)) throw new SweepSpecError(`${file}: runs[${i}] must be a list of arguments.`, ['runs', i]);
      return r.map((a, j) => scalar(a, `runs[${i}][${j}]`, ['runs', i, j]));
    });
  } else if (o.grid && typeof o.grid === 'object' && !Array.isArray(o.grid)) {
    const axes: string[][][] = [];
    for (const [key, values] of Object.entries(o.grid as Record<string, unknown>)) {
      const list = Array.isArray(values) ? values : [values];
      if (list.length === 0) throw new SweepSpecError(`${file}: grid "${key}" has no values.`, ['grid', key]);
      axes.push(
        list.map((v, i) =>
          v === true
            ? [key]
            : v === false
              ? []
              : [key, scalar(v, `grid "${key}"`, Array.isArray(values) ? ['grid', key, i] : ['grid', key])],
        ),
      );
    }
    runs = product(axes);
  } else {
    throw new SweepSpecError(`${file} must have "grid" (an object of value lists) or "runs" (a list of argument lists).`);
  }
  return { runs: runs.map((r) => [...r, ...common]) };
}

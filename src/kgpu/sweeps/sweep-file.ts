/**
 * A sweep file beside the script (issue 23): `sweep.json`, `sweep.yaml` or `sweep.yml`, the same
 * schema (grid.ts: `grid` or `runs`, and `args`). YAML is read with the `yaml` package (eemeli/yaml,
 * YAML 1.2 core schema: `1e-3` is a number, `true`/`false` flags, duplicate keys are errors, aliases
 * bounded). Files are read bounded (MAX_SWEEP_FILE_BYTES); every error names the file and, for
 * YAML, the line (and column) it is about — also a value of the wrong kind (`runs[1]` not a list).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type * as Yaml from 'yaml';
import { parseSweepJson, SweepSpecError, sweepOfSpec, type SweepArgs } from './grid';

export const SWEEP_FILE_NAMES = ['sweep.json', 'sweep.yaml', 'sweep.yml'] as const;
export const MAX_SWEEP_FILE_BYTES = 1024 * 1024;

let yamlModule: typeof Yaml | undefined;

/** The `yaml` package, loaded on first use: initialising it costs ~15 ms, which activation must
 *  not pay (esbuild.mjs maps this require to dist/vendor-yaml.js). */
function yaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  yamlModule ??= require('yaml') as typeof Yaml;
  return yamlModule;
}

/** The text of a sweep.yaml → argument sets (`file` names it in errors). */
export function parseSweepYaml(text: string, file = 'sweep.yaml'): SweepArgs {
  const { LineCounter, isNode, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem) {
    const pos = lineCounter.linePos(problem.pos[0]);
    throw new SweepSpecError(`${file} line ${pos.line}, column ${pos.col}: ${problem.message.split('\n')[0]}`);
  }
  let spec: unknown;
  try {
    spec = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new SweepSpecError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return sweepOfSpec(spec, file);
  } catch (e) {
    if (!(e instanceof SweepSpecError)) throw e;
    // The line of the value it is about: the deepest node of its path that the document has.
    for (let n = e.at?.length ?? 0; n > 0; n--) {
      const node: unknown = doc.getIn(e.at!.slice(0, n), true);
      if (isNode(node) && node.range) {
        const { line } = lineCounter.linePos(node.range[0]);
        throw new SweepSpecError(`${file} line ${line}: ${e.message.replace(`${file}: `, '')}`, e.at);
      }
    }
    const root = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]).line : 1;
    throw new SweepSpecError(`${file} line ${root}: ${e.message.replace(`${file}: `, '')}`, e.at);
  }
}

/** A sweep file's text → argument sets, by its name (.json or .yaml/.yml). */
export function parseSweepFile(name: string, text: string): SweepArgs {
  return /\.ya?ml$/i.test(name) ? parseSweepYaml(text, name) : parseSweepJson(text);
}

export interface SweepFile {
  /** Its absolute path. */
  path: string;
  name: string;
  runs: string[][];
}

/** Read one sweep file, bounded: undefined when there is none; SweepSpecError when it is too
 *  large, not a regular file, or not a valid sweep. */
export async function readSweepFile(file: string): Promise<SweepFile | undefined> {
  const name = path.basename(file);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SweepSpecError(`Could not read ${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new SweepSpecError(`${name} is not a regular file.`);
    if (st.size > MAX_SWEEP_FILE_BYTES)
      throw new SweepSpecError(`${name} is ${st.size} bytes; a sweep file may have at most ${MAX_SWEEP_FILE_BYTES} bytes.`);
    const buf = Buffer.alloc(MAX_SWEEP_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_SWEEP_FILE_BYTES)
      throw new SweepSpecError(`${name} has more than ${MAX_SWEEP_FILE_BYTES} bytes; a sweep file may have at most that.`);
    return { path: file, name, runs: parseSweepFile(name, buf.subarray(0, bytesRead).toString('utf8')).runs };
  } finally {
    await handle.close();
  }
}

/** The sweep files beside a script (sweep.json, sweep.yaml, sweep.yml: each that exists). */
export async function sweepFilesBeside(script: string): Promise<SweepFile[]> {
  const out: SweepFile[] = [];
  for (const n of SWEEP_FILE_NAMES) {
    const f = await readSweepFile(path.join(path.dirname(script), n));
    if (f) out.push(f);
  }
  return out;
}

/**
 * One cell's outputs built from the kernel's messages the way a local Jupyter front end builds
 * them: consecutive stream text of the same name merges into one output with carriage returns
 * applied (a tqdm bar updates in place), display_data / execute_result keep their MIME bundles
 * (update_display_data replaces by display_id), errors keep their traceback (ANSI colours and
 * all), clear_output clears now or, with wait, just before the next output. Stream text is kept
 * up to a bound (the tail, with a note of what was cut), so 100 000 printed lines keep the
 * editor's memory bounded.
 */
import type { KernelRecord } from './kernel-session';

export type MimeBundle = Record<string, unknown>;

export type CellOutput =
  | { kind: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { kind: 'data'; data: MimeBundle; metadata: Record<string, unknown>; displayId?: string; executionCount?: number }
  | { kind: 'error'; ename: string; evalue: string; traceback: string[] };

/** Stream text kept per output (the tail); the head is replaced by a note. */
export const MAX_STREAM_CHARS = 4 * 1024 * 1024;

/** Append `add` to stream text `prev`, applying \r (overwrite the line) and \b as a terminal
 *  would. Only the last line of `prev` can change. A trailing \r is kept until text follows. */
export function appendStreamText(prev: string, add: string): string {
  const lastNl = prev.lastIndexOf('\n');
  const head = prev.slice(0, lastNl + 1);
  const tail = prev.slice(lastNl + 1) + add;
  if (!tail.includes('\r') && !tail.includes('\b')) return head + tail;
  const lines = tail.split('\n').map(fixLine);
  return head + lines.join('\n');
}

function fixLine(line: string): string {
  let s = line;
  if (s.includes('\r')) {
    const trailing = /\r+$/.exec(s);
    const body = trailing ? s.slice(0, trailing.index) : s;
    s = body.slice(body.lastIndexOf('\r') + 1) + (trailing ? '\r' : '');
  }
  if (s.includes('\b')) {
    const out: string[] = [];
    for (const ch of s) {
      if (ch === '\b') out.pop();
      else out.push(ch);
    }
    s = out.join('');
  }
  return s;
}

/** Bound stream text to its tail. */
function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.length - Math.floor(max * 0.75);
  const nl = text.indexOf('\n', cut);
  const from = nl >= 0 ? nl + 1 : cut;
  const dropped = text.slice(0, from);
  const m = /^\[kgpu: (\d+) earlier lines not shown\]\n/.exec(dropped);
  const lines = (m ? Number(m[1]) : 0) + countLines(m ? dropped.slice(m[0].length) : dropped);
  return `[kgpu: ${lines} earlier lines not shown]\n${text.slice(from)}`;
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

export class CellOutputs {
  outputs: CellOutput[] = [];
  /** execute_input / execute_reply's count. */
  executionCount: number | undefined;
  /** execute_reply's status: 'ok' | 'error' | 'aborted'; undefined while running. */
  status: string | undefined;
  private clearOnNext = false;

  constructor(private readonly maxStreamChars = MAX_STREAM_CHARS) {}

  /** Apply one record; true when the outputs changed. */
  apply(r: KernelRecord): boolean {
    const c = r.content as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (r.ch === 'iopub') {
      switch (r.type) {
        case 'execute_input':
          if (typeof c.execution_count === 'number') this.executionCount = c.execution_count;
          return false;
        case 'stream':
          this.maybeClear();
          this.appendStream(c.name === 'stderr' ? 'stderr' : 'stdout', String(c.text ?? ''));
          return true;
        case 'display_data':
        case 'execute_result': {
          this.maybeClear();
          const displayId = typeof c.transient?.display_id === 'string' ? (c.transient.display_id as string) : undefined;
          const out: CellOutput = {
            kind: 'data',
            data: (c.data ?? {}) as MimeBundle,
            metadata: (c.metadata ?? {}) as Record<string, unknown>,
            displayId,
          };
          if (r.type === 'execute_result' && typeof c.execution_count === 'number') {
            out.executionCount = c.execution_count;
            this.executionCount = c.execution_count;
          }
          this.outputs.push(out);
          return true;
        }
        case 'update_display_data': {
          const id = c.transient?.display_id;
          let changed = false;
          for (const o of this.outputs) {
            if (o.kind === 'data' && o.displayId === id) {
              o.data = (c.data ?? {}) as MimeBundle;
              o.metadata = (c.metadata ?? {}) as Record<string, unknown>;
              changed = true;
            }
          }
          return changed;
        }
        case 'error':
          this.maybeClear();
          this.outputs.push({
            kind: 'error',
            ename: String(c.ename ?? 'Error'),
            evalue: String(c.evalue ?? ''),
            traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
          });
          return true;
        case 'clear_output':
          if (c.wait) {
            this.clearOnNext = true;
            return false;
          }
          this.clearOnNext = false;
          if (this.outputs.length === 0) return false;
          this.outputs = [];
          return true;
        default:
          return false;
      }
    }
    if (r.ch === 'shell' && r.type === 'execute_reply') {
      this.status = String(c.status ?? 'ok');
      if (typeof c.execution_count === 'number') this.executionCount = c.execution_count;
      return false;
    }
    return false;
  }

  /** Add a note of kgpu's own (e.g. "the pod ended") as an error output. */
  note(ename: string, evalue: string): void {
    this.outputs.push({ kind: 'error', ename, evalue, traceback: [] });
  }

  private maybeClear(): void {
    if (!this.clearOnNext) return;
    this.clearOnNext = false;
    this.outputs = [];
  }

  private appendStream(name: 'stdout' | 'stderr', text: string): void {
    const last = this.outputs[this.outputs.length - 1];
    if (last?.kind === 'stream' && last.name === name) {
      last.text = bounded(appendStreamText(last.text, text), this.maxStreamChars);
    } else {
      this.outputs.push({ kind: 'stream', name, text: bounded(appendStreamText('', text), this.maxStreamChars) });
    }
  }
}

/** Stream text as shown: a trailing carriage return (pending overwrite) is not displayed. */
export function displayStreamText(text: string): string {
  return text.endsWith('\r') ? text.replace(/\r+$/, '') : text;
}

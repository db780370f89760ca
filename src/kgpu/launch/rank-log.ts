/**
 * A torchrun job's log as ranks (issue 23). With `--tee 3` torchrun writes each worker's output to
 * its own output as `[default<rank>]:<what the worker's readline() returned>` — a whole line, or
 * the part of a line written so far (a `\r` progress bar), whose rest comes later behind another
 * header, possibly after other ranks' lines. Everything else in the log is torchrun's own output
 * (its warnings, the failure summary).
 *
 * - RankSplitter: text → segments `{rank, text}` (`rank` undefined: torchrun's own), across chunks
 *   (a header split between two chunks is held back until it is whole).
 * - RankLog: raw log bytes → terminal text with a coloured `[rank N]` prefix on every line, or
 *   only one rank's lines (a filter, redrawn from the segments kept — about the last 2 MiB); the
 *   first failing rank and its exit code from torchrun's summary (`Root Cause (first observed
 *   failure)`), for the footer.
 */
import { StringDecoder } from 'node:string_decoder';
import { TORCHRUN_ROLE } from './torchrun';

export interface RankSegment {
  /** The worker's rank; undefined for torchrun's own output. */
  rank: number | undefined;
  text: string;
}

const HEADER = new RegExp(`\\[${TORCHRUN_ROLE}(\\d{1,4})\\]:`, 'g');
/** A suffix that may be the start of a header cut by the chunk's end. */
const HEADER_START = new RegExp(
  `\\[${[...TORCHRUN_ROLE].map((c) => `(?:${c}`).join('')}(?:\\d{1,4}\\]?)?${')?'.repeat(TORCHRUN_ROLE.length)}$`,
);

export class RankSplitter {
  private held = '';
  /** The rank whose piece is in progress (until its `\n`); undefined: torchrun's own output. */
  private current: number | undefined;

  push(text: string): RankSegment[] {
    let s = this.held + text;
    this.held = '';
    const cut = HEADER_START.exec(s);
    if (cut && cut[0].length > 0) {
      this.held = s.slice(cut.index);
      s = s.slice(0, cut.index);
    }
    return this.split(s);
  }

  end(): RankSegment[] {
    const s = this.held;
    this.held = '';
    return this.split(s);
  }

  private split(s: string): RankSegment[] {
    const out: RankSegment[] = [];
    let from = 0;
    HEADER.lastIndex = 0;
    for (let m = HEADER.exec(s); m; m = HEADER.exec(s)) {
      this.plain(s.slice(from, m.index), out);
      this.current = Number(m[1]);
      from = m.index + m[0].length;
    }
    this.plain(s.slice(from), out);
    return out;
  }

  /** Text without headers: the current piece's rank up to its newline, torchrun's own after. */
  private plain(t: string, out: RankSegment[]): void {
    if (!t) return;
    if (this.current !== undefined) {
      const nl = t.indexOf('\n');
      if (nl < 0) return void push(out, this.current, t);
      push(out, this.current, t.slice(0, nl + 1));
      this.current = undefined;
      t = t.slice(nl + 1);
    }
    if (t) push(out, undefined, t);
  }
}

function push(out: RankSegment[], rank: number | undefined, text: string): void {
  const last = out[out.length - 1];
  if (last && last.rank === rank) last.text += text;
  else out.push({ rank, text });
}

/** The first failure torchrun reported. */
export interface RankFailure {
  rank: number;
  /** The worker's exit code; negative: killed by that signal (torchrun's convention). */
  exitCode: number;
  /** How many other ranks failed. */
  others: number;
}

/** torchrun's ChildFailedError summary → the root cause (first observed failure). */
export function parseTorchrunFailure(text: string): RankFailure | undefined {
  const root = text.lastIndexOf('Root Cause (first observed failure):');
  if (root < 0) return undefined;
  const block = text.slice(root);
  const rank = /^\s*rank\s*:\s*(\d+)/m.exec(block);
  const code = /^\s*exitcode\s*:\s*(-?\d+)/m.exec(block);
  if (!rank || !code) return undefined;
  const start = text.lastIndexOf('Failures:', root);
  const failures = start >= 0 ? text.slice(start, root) : '';
  const others = failures.includes('<NO_OTHER_FAILURES>') ? 0 : [...failures.matchAll(/^\s*exitcode\s*:/gm)].length;
  return { rank: Number(rank[1]), exitCode: Number(code[1]), others };
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

/** "rank 1 failed first: exit code 1 (and 1 other rank)". */
export function describeRankFailure(f: RankFailure): string {
  const how = f.exitCode < 0 ? `killed by ${SIGNALS[-f.exitCode] ?? `signal ${-f.exitCode}`}` : `exit code ${f.exitCode}`;
  const others = f.others ? ` (and ${f.others} other rank${f.others === 1 ? '' : 's'})` : '';
  return `rank ${f.rank} failed first: ${how}${others}`;
}

const COLOURS = ['36', '35', '33', '32', '34', '91', '96', '95', '93', '92', '94', '31'];
const RESET = '\x1b[0m';

/** The colour of a rank's prefix (ANSI SGR). */
export function rankColour(rank: number): string {
  return COLOURS[rank % COLOURS.length];
}

const KEPT_CHARS = 2 * 1024 * 1024;

/** Terminal text for the segments, with per-rank prefixes; state across calls (an open line). */
class RankRenderer {
  /** Whose line is open on the terminal (null: at a line start). */
  private open: number | undefined | null = null;
  private lastCr = false;
  /** Ranks whose unfinished line another rank's output ended: their own line end is already shown. */
  private readonly cut = new Set<number | undefined>();

  constructor(
    private readonly width: number,
    private readonly only: number | undefined,
  ) {}

  get atLineStart(): boolean {
    return this.open === null;
  }

  prefix(rank: number | undefined): string {
    return rank === undefined
      ? `\x1b[2m[torchrun]${RESET} `
      : `\x1b[${rankColour(rank)}m[rank ${String(rank).padStart(this.width)}]${RESET} `;
  }

  render(seg: RankSegment): string {
    if (this.only !== undefined && seg.rank !== this.only) return '';
    let out = '';
    if (this.open !== null && this.open !== seg.rank) {
      out += '\r\n'; // another rank's unfinished line: it goes on later behind a fresh prefix
      this.cut.add(this.open);
      this.open = null;
    }
    let text = seg.text;
    // The rest of a line cut above may be only its end: that line is already ended (no empty line).
    if (this.cut.delete(seg.rank) && /^\r?\n/.test(text)) {
      text = text.replace(/^\r?\n/, '');
      this.lastCr = false;
    }
    for (const part of text.split(/(\r\n|\n|\r)/)) {
      if (part === '') continue;
      if (part === '\n' || part === '\r\n') {
        if (this.open === null && !this.lastCr) out += this.prefix(seg.rank);
        out += '\r\n';
        this.open = null;
        this.lastCr = false;
      } else if (part === '\r') {
        if (this.open === null) out += this.prefix(seg.rank);
        out += '\r' + this.prefix(seg.rank);
        this.open = seg.rank;
        this.lastCr = true;
      } else {
        if (this.open === null) out += this.prefix(seg.rank);
        out += part;
        this.open = seg.rank;
        this.lastCr = false;
      }
    }
    return out;
  }

  /** End an open line (before our own notes and the footer). */
  close(): string {
    if (this.open === null) return '';
    this.open = null;
    return '\r\n';
  }
}

export class RankLog {
  private readonly decoder = new StringDecoder('utf8');
  private readonly splitter = new RankSplitter();
  private readonly kept: RankSegment[] = [];
  private keptChars = 0;
  private launcherText = '';
  private renderer: RankRenderer;
  private filter: number | undefined;
  private readonly width: number;
  private readonly seen = new Set<number>();

  constructor(readonly ranks: number) {
    this.width = String(Math.max(0, ranks - 1)).length;
    this.renderer = new RankRenderer(this.width, undefined);
  }

  /** The rank shown alone, or undefined for all. */
  get only(): number | undefined {
    return this.filter;
  }

  /** Ranks that printed something so far. */
  get ranksSeen(): number[] {
    return [...this.seen].sort((a, b) => a - b);
  }

  get atLineStart(): boolean {
    return this.renderer.atLineStart;
  }

  /** Raw log bytes → terminal text. */
  push(chunk: Buffer): string {
    return this.take(this.splitter.push(this.decoder.write(chunk)));
  }

  end(): string {
    return this.take(this.splitter.push(this.decoder.end())) + this.take(this.splitter.end());
  }

  /** End a line left open (the terminal then starts ours on a new line). */
  closeLine(): string {
    return this.renderer.close();
  }

  /** Show one rank (or all: undefined): terminal text that redraws what is kept. */
  setFilter(rank: number | undefined): string {
    this.filter = rank;
    this.renderer = new RankRenderer(this.width, rank);
    let out = '';
    for (const seg of this.kept) out += this.renderer.render(seg);
    return out;
  }

  /** The first failing rank, when torchrun reported one. */
  failure(): RankFailure | undefined {
    return parseTorchrunFailure(this.launcherText);
  }

  private take(segs: RankSegment[]): string {
    let out = '';
    for (const seg of segs) {
      if (seg.rank === undefined) this.launcherText = (this.launcherText + seg.text).slice(-65536);
      else this.seen.add(seg.rank);
      this.keep(seg);
      out += this.renderer.render(seg);
    }
    return out;
  }

  private keep(seg: RankSegment): void {
    this.kept.push({ ...seg });
    this.keptChars += seg.text.length;
    while (this.keptChars > KEPT_CHARS && this.kept.length > 1) this.keptChars -= this.kept.shift()!.text.length;
  }
}

/**
 * The terminal into a pod, without the editor: an interactive shell with a PTY over ONE bastion
 * connection (the bastion is single-channel), resizable, reporting the shell's exit status. When
 * the connection drops it says so in the terminal and reconnects on Enter; when the pod has ended
 * it says why and takes no more input. The editor adapter (src/commands/terminal.ts) wires this to a
 * vscode.Pseudoterminal.
 */
import { StringDecoder } from 'node:string_decoder';
import { Emitter, type Event } from '../util/emitter';
import type { PodConnector } from './ssh-connection';
import { shell, type ShellSession } from './ssh-exec';

export type PodShellState = 'idle' | 'connecting' | 'open' | 'disconnected' | 'ended' | 'exited' | 'closed';

export interface PodShellOptions {
  /** The pod's connector (asked again on every reconnect: a rotated key builds a new one). */
  connector(): Promise<PodConnector>;
  /** e.g. "train-pod (gpu-rent-…)" */
  podLabel: string;
  /** The pod's end, in words, when it has ended (asked after a drop); undefined while it lives. */
  endedBecause?(): Promise<string | undefined> | string | undefined;
  cols?: number;
  rows?: number;
  term?: string;
}

const DIM = '\x1b[2m';
const YELLOW = '\x1b[33m';
const RED = '\x1b[31m';
const RESET = '\x1b[0m';

function message(colour: string, text: string): string {
  return `\r\n${colour}[kgpu] ${text}${RESET}\r\n`;
}

export class PodShell {
  private readonly outputEmitter = new Emitter<string>();
  private readonly exitEmitter = new Emitter<number | undefined>();
  private readonly stateEmitter = new Emitter<PodShellState>();
  /** Text for the terminal (the PTY's output and our own messages, `\r\n` line ends). */
  readonly onOutput: Event<string> = this.outputEmitter.event;
  /** The shell exited by itself (exit code, undefined for a signal): close the terminal. */
  readonly onExit: Event<number | undefined> = this.exitEmitter.event;
  readonly onState: Event<PodShellState> = this.stateEmitter.event;
  private session: ShellSession | undefined;
  private current: PodShellState = 'idle';
  private cols: number;
  private rows: number;
  private abort: AbortController | undefined;
  private attempt = 0;

  constructor(private readonly options: PodShellOptions) {
    this.cols = options.cols ?? 80;
    this.rows = options.rows ?? 24;
  }

  get state(): PodShellState {
    return this.current;
  }

  /** Read through a method: the state changes across awaits, which TypeScript's narrowing ignores. */
  private isClosed(): boolean {
    return this.current === 'closed';
  }

  private set(state: PodShellState): void {
    if (this.current === state) return;
    this.current = state;
    this.stateEmitter.fire(state);
  }

  /** Connect (again). Resolves when the shell is open or the attempt has failed (the terminal says why). */
  async start(): Promise<void> {
    if (this.current === 'connecting' || this.current === 'open' || this.current === 'closed' || this.current === 'ended') return;
    const attempt = ++this.attempt;
    this.set('connecting');
    this.outputEmitter.fire(`${DIM}Connecting to ${this.options.podLabel}…${RESET}\r\n`);
    const abort = (this.abort = new AbortController());
    let session: ShellSession;
    try {
      const connector = await this.options.connector();
      session = await shell(connector, { cols: this.cols, rows: this.rows, term: this.options.term, signal: abort.signal });
    } catch (e) {
      if (attempt !== this.attempt || this.isClosed()) return;
      await this.lost(e);
      return;
    }
    if (attempt !== this.attempt || this.isClosed()) {
      session.close();
      return;
    }
    this.session = session;
    this.set('open');
    const decoder = new StringDecoder('utf8');
    session.stream.on('data', (b: Buffer) => {
      const text = decoder.write(b);
      if (text) this.outputEmitter.fire(text);
    });
    session.stream.on('error', () => undefined);
    session.exit.then(
      (status) => {
        if (this.session !== session || this.current === 'closed') return;
        this.session = undefined;
        const rest = decoder.end();
        if (rest) this.outputEmitter.fire(rest);
        this.set('exited');
        const how = status.exitCode !== null ? `with code ${status.exitCode}` : `by ${status.signal ?? 'a signal'}`;
        this.outputEmitter.fire(message(DIM, `The shell exited ${how}.`));
        this.exitEmitter.fire(status.exitCode ?? undefined);
      },
      (e: unknown) => {
        if (this.session !== session || this.current === 'closed') return;
        this.session = undefined;
        void this.lost(e);
      },
    );
  }

  private async lost(e: unknown): Promise<void> {
    let ended: string | undefined;
    try {
      ended = await this.options.endedBecause?.();
    } catch {
      ended = undefined;
    }
    if (this.current === 'closed') return;
    if (ended) {
      this.set('ended');
      this.outputEmitter.fire(message(RED, `The pod has ended: ${ended}. This terminal is closed; rent a GPU to continue.`));
      return;
    }
    this.set('disconnected');
    const why = e instanceof Error ? e.message : String(e);
    this.outputEmitter.fire(
      message(YELLOW, `The connection to ${this.options.podLabel} was lost: ${why}`) +
        `${YELLOW}[kgpu] Press Enter to reconnect.${RESET}\r\n`,
    );
  }

  /** Keyboard input: to the shell while open; Enter reconnects after a drop. */
  input(data: string): void {
    if (this.current === 'open' && this.session) {
      this.session.stream.write(data);
      return;
    }
    if (this.current === 'disconnected' && (data.includes('\r') || data.includes('\n'))) void this.start();
  }

  resize(cols: number, rows: number): void {
    if (!(cols > 0 && rows > 0)) return;
    this.cols = cols;
    this.rows = rows;
    this.session?.resize(cols, rows);
  }

  /** The pod ended under an open terminal (its connector was disposed): say so now. */
  podEnded(reason: string): void {
    if (this.current === 'closed' || this.current === 'ended') return;
    const s = this.session;
    this.session = undefined;
    this.attempt++;
    s?.close();
    this.abort?.abort();
    this.set('ended');
    this.outputEmitter.fire(message(RED, `The pod has ended: ${reason}. This terminal is closed; rent a GPU to continue.`));
  }

  /** The terminal was closed: end the shell and its connection. */
  close(): void {
    if (this.current === 'closed') return;
    this.set('closed');
    this.attempt++;
    this.abort?.abort();
    this.session?.close();
    this.session = undefined;
    this.outputEmitter.dispose();
    this.exitEmitter.dispose();
    this.stateEmitter.dispose();
  }
}

/**
 * Commands and interactive shells in a pod over SSH. Each call takes a fresh connection from the
 * pod's PodConnector (the bastion serves one channel per connection) and closes it when done.
 */
import { Readable, type Duplex, type Writable } from 'node:stream';
import type { ClientChannel, PseudoTtyOptions } from 'ssh2';
import type { PodConnection, PodConnector } from './ssh-connection';
import { quoteArgv } from '../util/shell-quote';
import { ChannelRefusedError, ConnectionLostError, SshAbortedError, SshError, isNotConnected } from './ssh-errors';

/** A command line (run by the pod's `sh -c`) or an argv, quoted for you. */
export type Command = string | Buffer | readonly string[];

export interface ExitStatus {
  /** The exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  /** "SIGTERM", "SIGKILL", … when killed by a signal, else null. */
  signal: string | null;
}

export interface ExecResult extends ExitStatus {
  stdout: Buffer;
  stderr: Buffer;
}

export interface ExecOptions {
  /** Sent to the command's stdin, then EOF. Without it: exec() sends EOF at once; execStream()
   *  leaves `stdin` open for the caller to write and end. */
  stdin?: string | Buffer | Readable;
  signal?: AbortSignal;
  /** exec() only: the most bytes kept of stdout, and of stderr (default 64 MiB each). A command
   *  that prints more is stopped (its connection closed, which hangs it up in the pod) and exec()
   *  fails with ExecOutputTooLargeError — what a pod prints is never held without a bound. */
  maxOutputBytes?: number;
}

/** exec()'s default bound on the output it keeps in memory, per stream. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** A command printed more than exec() keeps in memory. */
export class ExecOutputTooLargeError extends SshError {
  override readonly kind = 'output_too_large';
  constructor(
    what: string,
    readonly stream: 'stdout' | 'stderr',
    readonly maxBytes: number,
  ) {
    super(
      `${what[0].toUpperCase()}${what.slice(1)} printed more than ${(maxBytes / 1048576).toFixed(maxBytes < 10 * 1048576 ? 1 : 0)} MiB on ${stream}; kgpu stopped it (output is held in memory). ` +
        'Write big output to a file in the pod and copy it with Download….',
    );
  }
}

export interface ExecStream {
  stdout: Readable;
  stderr: Readable;
  /** End it to send EOF. */
  stdin: Writable;
  /** Resolves with the exit status; rejects with ConnectionLostError if the connection drops first,
   *  SshAbortedError on abort. */
  done: Promise<ExitStatus>;
  /** Close the channel and its connection now. */
  close(): void;
}

export interface ShellOptions {
  cols: number;
  rows: number;
  /** TERM for the PTY (default xterm-256color). */
  term?: string;
  /** Environment variables sent as SSH env requests (the bastion may ignore them). */
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ShellSession {
  /** Terminal output (read) and keyboard input (write). */
  stream: Duplex;
  resize(cols: number, rows: number): void;
  /** Resolves when the shell exits; rejects with ConnectionLostError if the connection drops first. */
  exit: Promise<ExitStatus>;
  close(): void;
}

export function commandLine(command: Command): string | Buffer {
  return typeof command === 'string' || Buffer.isBuffer(command) ? command : quoteArgv(command);
}

function describe(command: Command): string {
  const line = commandLine(command);
  const text = typeof line === 'string' ? line : line.toString('utf8');
  return `the command \`${text.length > 60 ? text.slice(0, 57) + '...' : text}\``;
}

/** Run a command to completion, collecting stdout and stderr. */
export async function exec(connector: PodConnector, command: Command, options: ExecOptions = {}): Promise<ExecResult> {
  const s = await execStream(connector, command, { ...options, stdin: options.stdin ?? Buffer.alloc(0) });
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  let tooLarge: ExecOutputTooLargeError | undefined;
  const keep = (stream: 'stdout' | 'stderr', into: Buffer[]) => {
    let n = 0;
    return (b: Buffer): void => {
      if (tooLarge) return;
      n += b.length;
      if (n > max) {
        tooLarge = new ExecOutputTooLargeError(describe(command), stream, max);
        into.length = 0;
        s.close(); // hangs the command up in the pod
        return;
      }
      into.push(b);
    };
  };
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  s.stdout.on('data', keep('stdout', out));
  s.stderr.on('data', keep('stderr', err));
  let status: ExitStatus;
  try {
    [status] = await Promise.all([s.done, drained(s.stdout), drained(s.stderr)]);
  } catch (e) {
    throw tooLarge ?? e;
  }
  if (tooLarge) throw tooLarge;
  return { ...status, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/** Resolves when a readable has delivered everything (or was destroyed). */
function drained(r: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (r.readableEnded || r.destroyed) return resolve();
    r.once('end', resolve);
    r.once('close', resolve);
  });
}

/** Start a command and stream its stdin/stdout/stderr. */
export async function execStream(connector: PodConnector, command: Command, options: ExecOptions = {}): Promise<ExecStream> {
  const what = describe(command);
  const conn = await connector.connect({ signal: options.signal });
  let channel: ClientChannel;
  try {
    channel = await openExec(conn, commandLine(command), what);
  } catch (e) {
    conn.close();
    throw e;
  }
  const done = watchChannel(conn, channel, what, options.signal);
  const stdin = options.stdin;
  if (stdin === undefined) {
    /* the caller writes to and ends `stdin` */
  } else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) channel.end(stdin);
  else stdin.pipe(channel);
  return {
    stdout: channel,
    stderr: channel.stderr,
    stdin: channel,
    done,
    close: () => conn.close(),
  };
}

/** An interactive login shell with a PTY, for the terminal. */
export async function shell(connector: PodConnector, options: ShellOptions): Promise<ShellSession> {
  const conn = await connector.connect({ signal: options.signal });
  const pty: PseudoTtyOptions = { cols: options.cols, rows: options.rows, term: options.term ?? 'xterm-256color' };
  let channel: ClientChannel;
  try {
    channel = await new Promise<ClientChannel>((resolve, reject) => {
      const onClose = (): void => reject(new ConnectionLostError('opening a shell'));
      conn.client.once('close', onClose);
      try {
        conn.client.shell(pty, options.env ? { env: options.env } : {}, (err, ch) => {
          conn.client.removeListener('close', onClose);
          if (err) reject(new ChannelRefusedError('an interactive shell', { cause: err }));
          else resolve(recordExit(ch));
        });
      } catch (e) {
        conn.client.removeListener('close', onClose);
        reject(isNotConnected(e) ? new ConnectionLostError('opening a shell', { cause: e }) : e);
      }
    });
  } catch (e) {
    conn.close();
    throw e;
  }
  const exit = watchChannel(conn, channel, 'the shell', options.signal);
  return {
    stream: channel,
    resize: (cols, rows) => {
      channel.setWindow(rows, cols, 0, 0);
    },
    exit,
    close: () => conn.close(),
  };
}

function openExec(conn: PodConnection, line: string | Buffer, what: string): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    const onClose = (): void => reject(new ConnectionLostError(`starting ${what}`));
    conn.client.once('close', onClose);
    // ssh2 sends a Buffer command verbatim (non-UTF-8 file names); its types only say string.
    try {
      conn.client.exec(line as string, (err, ch) => {
        conn.client.removeListener('close', onClose);
        if (err) reject(new ChannelRefusedError(what, { cause: err }));
        else resolve(recordExit(ch));
      });
    } catch (e) {
      conn.client.removeListener('close', onClose);
      reject(isNotConnected(e) ? new ConnectionLostError(`starting ${what}`, { cause: e }) : e);
    }
  });
}

/** Exit statuses seen on channels, recorded from the moment the channel is handed to us. */
const exits = new WeakMap<ClientChannel, ExitStatus>();

/**
 * ssh2 parses every packet of one TCP read synchronously: a short command's exec reply, output,
 * exit-status and close can arrive together, and 'exit' is emitted before an `await` on the
 * channel resumes (seen on pre-connected connections and through a latency proxy). Listen in the
 * same tick the channel is handed over.
 */
function recordExit(ch: ClientChannel): ClientChannel {
  ch.once('exit', (code: number | null, sig?: string) => {
    exits.set(ch, { exitCode: typeof code === 'number' ? code : null, signal: sig ?? null });
  });
  return ch;
}

/** Resolve with the exit status once the channel closes; close the connection with it. */
function watchChannel(conn: PodConnection, channel: ClientChannel, what: string, signal?: AbortSignal): Promise<ExitStatus> {
  return new Promise<ExitStatus>((resolve, reject) => {
    let status: ExitStatus | undefined;
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      try {
        channel.signal('KILL');
      } catch {
        /* channel already gone */
      }
      conn.close();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    channel.on('exit', (code: number | null, sig?: string) => {
      status = { exitCode: typeof code === 'number' ? code : null, signal: sig ?? null };
    });
    status = exits.get(channel);
    // Errors surface as the missing exit status below; keep them from crashing the process.
    channel.on('error', () => undefined);
    conn.client.on('error', () => undefined);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', onAbort);
      conn.close();
      status ??= exits.get(channel);
      if (aborted) reject(new SshAbortedError(what[0].toUpperCase() + what.slice(1)));
      else if (status) resolve(status);
      else reject(new ConnectionLostError(what));
    };
    channel.on('close', finish);
    conn.client.on('close', finish);
  });
}

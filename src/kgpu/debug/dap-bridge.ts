/**
 * One debug session's Debug Adapter Protocol between the editor (message objects: VS Code's
 * inline adapter, or a test) and debugpy in the pod (a byte stream through the pod agent):
 *  - paths are mapped both ways (PodPathMap);
 *  - the editor's `launch` / `attach` request gets the arguments debugpy needs (`rewrite`: the
 *    pod's paths, the interpreter, the environment — secrets travel inside this stream only);
 *  - when the stream ends before debugpy said `terminated` (the connection dropped, the adapter
 *    could not start), the editor gets a clear `output` line, an error response for every request
 *    still waiting, and `terminated`, so the session ends instead of hanging.
 */
import type { Duplex, Readable } from 'node:stream';
import { Emitter, type Disposable, type Event } from '../util/emitter';
import { DapDecoder, encodeDap, type DapMessage } from './dap-codec';
import type { PodPathMap } from './path-map';

export interface DapBridgeOptions {
  /** The stream to debugpy (its adapter's stdin/stdout, or a TCP connection to `debugpy.listen`). */
  stream: Duplex;
  /** The adapter process's stderr, when it is a process (kept, bounded, for error messages). */
  stderr?: Readable;
  paths: PodPathMap;
  /** The debugpy arguments for the editor's `launch`/`attach` request (called with the editor's). */
  rewrite(command: 'launch' | 'attach', editorArguments: Record<string, unknown>): Record<string, unknown>;
  /** The editor's `launch` goes to debugpy as this request (a launched job is attached to). */
  launchAs?: 'attach';
  /** Other requests' arguments, changed before they go to debugpy (e.g. a launched job's
   *  `disconnect` terminating it). */
  rewriteRequest?(command: string, args: Record<string, unknown> | undefined): Record<string, unknown> | undefined;
  /** When set, debugpy's `terminated` waits for this (the job's end): its exit code is sent as
   *  `exited` first when debugpy did not send one (attached to a job, debugpy may not know it). */
  beforeTerminated?(): Promise<{ exitCode?: number }>;
  /** Explains why the stream ended early (stderr tail, error) in a line for the debug console. */
  explainEnd?(info: { error?: Error; stderr: string; sawResponse: boolean }): string;
}

const MAX_STDERR = 16 * 1024;

export class DapBridge implements Disposable {
  private readonly emitter = new Emitter<DapMessage>();
  /** Messages for the editor, in order. */
  readonly onDidSendMessage: Event<DapMessage> = this.emitter.event;
  private readonly decoder = new DapDecoder();
  private readonly pending = new Map<number, string>();
  private readonly renamed = new Set<number>();
  private stderrTail = '';
  private sawResponse = false;
  private terminated = false;
  private ended = false;
  private seq = 1_000_000;
  private exitCode: number | undefined;
  private readonly endEmitter = new Emitter<{ error?: Error; message?: string }>();
  /** Fires once when the stream is over (with the reason when it ended before debugpy finished). */
  readonly onDidEnd: Event<{ error?: Error; message?: string }> = this.endEmitter.event;

  constructor(private readonly options: DapBridgeOptions) {
    const { stream, stderr } = options;
    stream.on('data', (chunk: Buffer) => this.fromPod(chunk));
    stream.on('error', (e: Error) => this.end(e));
    stream.on('end', () => this.end());
    stream.on('close', () => this.end());
    stderr?.on('data', (c: Buffer) => {
      this.stderrTail = (this.stderrTail + c.toString('utf8')).slice(-MAX_STDERR);
    });
    stderr?.on('error', () => undefined);
  }

  /** The program's exit code, once debugpy reported it. */
  get programExitCode(): number | undefined {
    return this.exitCode;
  }

  /** A message from the editor. */
  handleMessage(message: DapMessage): void {
    if (this.ended) {
      if (message.type === 'request')
        this.failRequest(message as DapMessage & { seq: number; command: string }, 'The debug session in the pod has ended.');
      return;
    }
    const msg = structuredClone(message) as DapMessage & { command?: string; arguments?: Record<string, unknown> };
    if (msg.type === 'request' && typeof msg.command === 'string') {
      this.pending.set(msg.seq, msg.command);
      if (msg.command === 'launch' || msg.command === 'attach') {
        msg.arguments = this.options.rewrite(msg.command, msg.arguments ?? {});
        if (msg.command === 'launch' && this.options.launchAs) {
          msg.command = this.options.launchAs;
          this.renamed.add(msg.seq);
        }
      } else {
        this.options.paths.mapToPod(msg);
        if (this.options.rewriteRequest) msg.arguments = this.options.rewriteRequest(msg.command, msg.arguments);
      }
    }
    this.options.stream.write(encodeDap(msg));
  }

  private fromPod(chunk: Buffer): void {
    let messages: DapMessage[];
    try {
      messages = this.decoder.push(chunk);
    } catch (e) {
      this.options.stream.destroy();
      this.end(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    for (const m of messages) {
      const msg = this.options.paths.mapToEditor(m) as DapMessage & { request_seq?: number; event?: string; body?: { exitCode?: unknown } };
      if (msg.type === 'response' && typeof msg.request_seq === 'number') {
        if (this.renamed.delete(msg.request_seq)) (msg as { command?: string }).command = 'launch';
        this.pending.delete(msg.request_seq);
        this.sawResponse = true;
      }
      if (msg.type === 'event' && msg.event === 'terminated') {
        this.terminated = true;
        const wait = this.options.beforeTerminated;
        if (wait) {
          void wait()
            .catch(() => ({ exitCode: undefined }))
            .then(({ exitCode }) => {
              if (this.exitCode === undefined && exitCode !== undefined) {
                this.exitCode = exitCode;
                this.send({ type: 'event', event: 'exited', body: { exitCode } });
              }
              this.emitter.fire(msg);
            });
          continue;
        }
      }
      if (msg.type === 'event' && msg.event === 'exited' && typeof msg.body?.exitCode === 'number') this.exitCode = msg.body.exitCode;
      this.emitter.fire(msg);
    }
  }

  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    let message: string | undefined;
    if (!this.terminated) {
      message =
        this.options.explainEnd?.({ error, stderr: this.stderrTail, sawResponse: this.sawResponse }) ??
        (error ? `kgpu: the debug session in the pod ended: ${error.message}` : 'kgpu: the debug session in the pod ended.');
      this.send({ type: 'event', event: 'output', body: { category: 'stderr', output: message + '\n' } });
      for (const [seq, command] of [...this.pending])
        this.failRequest({ seq, command } as DapMessage & { seq: number; command: string }, message);
      this.send({ type: 'event', event: 'terminated', body: {} });
      this.terminated = true;
    }
    this.pending.clear();
    this.endEmitter.fire({ error, message });
  }

  /** Program output from elsewhere (a job's log) for the debug console. */
  output(text: string, category: 'stdout' | 'stderr' | 'console' = 'stdout'): void {
    if (text) this.send({ type: 'event', event: 'output', body: { category, output: text } });
  }

  private failRequest(req: { seq: number; command: string }, message: string): void {
    this.pending.delete(req.seq);
    // 'disconnect' after the end is fine: answer it as done.
    const ok = req.command === 'disconnect' || req.command === 'terminate';
    this.send({ type: 'response', request_seq: req.seq, command: req.command, success: ok, ...(ok ? {} : { message }) });
  }

  private send(m: Record<string, unknown>): void {
    this.emitter.fire({ seq: this.seq++, ...m } as DapMessage);
  }

  /** Ends the stream: debugpy, its client gone, ends the program it launched. */
  dispose(): void {
    this.options.stream.destroy();
    this.ended = true;
    this.emitter.dispose();
    this.endEmitter.dispose();
  }
}

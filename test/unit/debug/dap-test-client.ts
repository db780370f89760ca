/**
 * A DAP client for tests: drives a DapBridge the way VS Code does (message objects), with
 * `request()` resolving on the matching response and `event()` taking the next unconsumed event
 * of a kind, in order. Every wait is bounded and fails naming what it waited for and what came.
 */
import type { DapBridge, DapMessage } from '../../../src/kgpu/debug';

type Msg = DapMessage & { event?: string; command?: string; request_seq?: number; success?: boolean; message?: string; body?: any };

export class DapTestClient {
  private seq = 1;
  readonly messages: Msg[] = [];
  private readonly consumed = new Set<Msg>();
  private waiters: (() => void)[] = [];

  constructor(private readonly bridge: DapBridge) {
    bridge.onDidSendMessage((m) => {
      this.messages.push(m as Msg);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private async waitFor<T>(what: string, find: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = find();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${what}; got: ${this.messages.map((m) => m.event ?? `${m.type}:${m.command}`).join(', ')}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a request; resolves with its response (success or not). */
  request(command: string, args?: Record<string, unknown>, timeoutMs = 60_000): Promise<Msg> {
    const seq = this.seq++;
    this.bridge.handleMessage({ seq, type: 'request', command, arguments: args } as DapMessage);
    return this.waitFor(
      `the response to ${command}`,
      () => this.messages.find((m) => m.type === 'response' && m.request_seq === seq),
      timeoutMs,
    );
  }

  /** Like request(), but fails unless the response says success. */
  async ok(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<any> {
    const r = await this.request(command, args, timeoutMs);
    if (!r.success) throw new Error(`${command} failed: ${r.message ?? JSON.stringify(r.body)}`);
    return r.body;
  }

  /** The next event named `name` not taken before (optionally matching). */
  event(name: string, match: (m: Msg) => boolean = () => true, timeoutMs = 60_000): Promise<Msg> {
    return this.waitFor(
      `the event ${name}`,
      () => {
        const m = this.messages.find((x) => x.type === 'event' && x.event === name && !this.consumed.has(x) && match(x));
        if (m) this.consumed.add(m);
        return m;
      },
      timeoutMs,
    );
  }

  /** All output so far, one string. */
  output(): string {
    return this.messages
      .filter((m) => m.type === 'event' && m.event === 'output' && m.body?.category !== 'telemetry')
      .map((m) => String(m.body?.output ?? ''))
      .join('');
  }
}

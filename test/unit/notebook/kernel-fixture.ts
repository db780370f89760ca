/**
 * A real IPython kernel in a simulator pod for the notebook tests: the agent fixture's pod, the
 * kernel started by startKernel (pod/kernel_bridge.py placed by hash, detached), sessions over
 * AgentClients (each one a separate "extension host"), and `run()` that executes a cell and
 * collects its records and outputs until the kernel finished it.
 */
import { AgentOpenError, backoffReconnectPolicy, type AgentClient } from '../../../src/kgpu/agent';
import { CellOutputs, KernelSession, kernelIdFor, startKernel, type KernelRecord, type KernelStarted } from '../../../src/kgpu/notebook';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { startAgentFixture, waitFor, type AgentFixture } from '../agent/agent-fixture';

export { waitFor };

export interface CellRun {
  id: string;
  records: KernelRecord[];
  outputs: CellOutputs;
  done: Promise<void>;
  /** Concatenated stdout text as received. */
  stdout(): string;
}

export interface KernelFixture {
  f: AgentFixture;
  /** Start (or find) the kernel with this id in `cwd`. */
  start(kernelId: string, cwd: string, maxBytes?: number, env?: Record<string, string>, python?: string): Promise<KernelStarted>;
  /** A session over a new AgentClient (a new editor instance). */
  session(started: KernelStarted, options?: { quietCloseMs?: number }): { session: KernelSession; agent: AgentClient };
  /** Track execution `id` (already sent, or replayed) on `session`. */
  track(session: KernelSession, id: string): CellRun;
  run(session: KernelSession, code: string): CellRun;
  stop(): Promise<void>;
}

export async function startKernelFixture(): Promise<KernelFixture> {
  const f = await startAgentFixture();
  const sessions: KernelSession[] = [];
  const pod = podCommands(f.connector());
  const fx: KernelFixture = {
    f,
    start: (kernelId, cwd, maxBytes, env, python) => startKernel(pod, { kernelId, cwd, maxBytes, env, python }),
    session(started, options = {}) {
      const agent = f.client({ reconnect: { ...backoffReconnectPolicy(), retryDelayMs: (n) => (n < 20 ? 100 : undefined) } });
      const session = new KernelSession({
        open: (signal) => agent.openStream({ kind: 'unix', path: started.socket }, { signal }),
        reconnect: backoffReconnectPolicy({ baseDelayMs: 100, maxDelayMs: 100, random: () => 1 }),
        isGone: (e) => e instanceof AgentOpenError && (e.code === 'ENOENT' || e.code === 'ECONNREFUSED'),
        ...options,
      });
      sessions.push(session);
      return { session, agent };
    },
    track(session, id) {
      const records: KernelRecord[] = [];
      const outputs = new CellOutputs();
      let reply = false;
      let idle = false;
      const done = new Promise<void>((resolve) => {
        const sub = session.onRecord((r) => {
          if (r.parent !== id && !(r.ch === 'bridge' && (r.type === 'restarted' || r.type === 'died'))) return;
          records.push(r);
          outputs.apply(r);
          if (r.ch === 'shell' && r.type === 'execute_reply') reply = true;
          if (r.ch === 'iopub' && r.type === 'status' && r.content.execution_state === 'idle') idle = true;
          if ((reply && idle) || (r.ch === 'bridge' && r.type !== 'execute')) {
            sub.dispose();
            resolve();
          }
        });
      });
      return {
        id,
        records,
        outputs,
        done,
        stdout: () =>
          records
            .filter((r) => r.ch === 'iopub' && r.type === 'stream' && r.content.name === 'stdout')
            .map((r) => String(r.content.text))
            .join(''),
      };
    },
    run(session, code) {
      const id = `t-${Math.random().toString(16).slice(2)}`;
      const run = fx.track(session, id);
      session.execute(code, { test: true }, id);
      return run;
    },
    async stop() {
      for (const s of sessions) s.dispose();
      await f
        .sh('for p in /tmp/kgpu-$(id -u)/kernel-*/pid; do [ -f "$p" ] && kill $(cut -d\' \' -f1 "$p") 2>/dev/null; done; true')
        .catch(() => undefined);
      await f.stop();
    },
  };
  return fx;
}

/**
 * The kernel fixture with the notebook tests' shared kernel already started: `nb/helper.py` written
 * and the kernel of /workspace/nb/a.ipynb running in /workspace/nb. A failed start stops the
 * fixture before it throws, so nothing is left running.
 */
export async function startedKernel(): Promise<{ k: KernelFixture; started: KernelStarted }> {
  const k = await startKernelFixture();
  try {
    k.f.writeFile('nb/helper.py', Buffer.from('GREETING = "hello from helper"\n'));
    const started = await k.start(kernelIdFor(k.f.pod.podId, '/workspace/nb/a.ipynb'), '/workspace/nb');
    return { k, started };
  } catch (e) {
    await k.stop().catch(() => undefined);
    throw e;
  }
}

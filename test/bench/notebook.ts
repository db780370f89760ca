/**
 * Scenario — notebook kernels in the pod (src/kgpu/notebook, pod/kernel_bridge.py).
 *   rtt:          a warm kernel's `1+1` round trip (execute → execute_result and idle) through the
 *                 bridge and the pod agent (a KernelSession, as the editor drives it) vs the floor:
 *                 the same kernel driven by jupyter_client inside the pod (BlockingKernelClient on
 *                 the kernel's own connection file), interleaved. Goal: ≤ 15 ms above the floor.
 *   rtt_wan:      the same with 40 ms RTT in front of the bastion. Goal: within 1.5 RTT of the floor.
 *   first_output: a new kernel (bridge placed, IPython started) → the first output of `print`.
 *                 Goal ≤ 5 s. No reference (nothing else can give a kernel through this bastion).
 *   reattach:     a new session (a reloaded window) to the running kernel → its hello. Goal ≤ 2 s.
 *   lines:        a cell printing 100 000 lines (--quick: 10 000): all delivered in order; the
 *                 cell's kept text (CellOutputs, bounded) in MB.
 * Across an emulated link (`--profiles`) every client already crosses it: rtt's goal becomes "within
 * 1.5 RTT of the floor" (never stricter than loopback's ≤ floor + 15 ms); rtt_wan (its own proxy on top) and lines
 * (not what a link changes) are left out.
 */
import { AgentClient } from '../../src/kgpu/agent';
import { CellOutputs, kernelIdFor, KernelSession, startKernel, type KernelStarted } from '../../src/kgpu/notebook';
import { quoteArgv } from '../../src/kgpu/util/shell-quote';
import { execStream, type ExecStream } from '../../src/kgpu/ssh/ssh-exec';
import type { PodConnector } from '../../src/kgpu/ssh/ssh-connection';
import type { BenchEnv } from './env';
import { startLatencyProxy } from './latency-proxy';
import { interleave, now, summarize, type BenchConfig, type ScenarioResult } from './measure';

const RTT_MS = 40;

/** The floor: jupyter_client in the pod, one `1+1` round trip per "go" line on stdin. */
const FLOOR = `
import json, sys, time
from jupyter_client import BlockingKernelClient
c = BlockingKernelClient(connection_file=sys.argv[1]); c.load_connection_file(); c.start_channels()
c.wait_for_ready(timeout=60)
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter(); mid = c.execute("1+1"); got = idle = False
    while not (got and idle):
        m = c.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") != mid: continue
        got = got or m["msg_type"] == "execute_result"
        idle = idle or (m["msg_type"] == "status" and m["content"]["execution_state"] == "idle")
    print("%.3f" % ((time.perf_counter() - t0) * 1000), flush=True)
`;

class LineReader {
  private buf = '';
  private waiters: ((l: string) => void)[] = [];
  private lines: string[] = [];
  constructor(s: ExecStream) {
    s.stdout.setEncoding('utf8');
    s.stdout.on('data', (c: string) => {
      this.buf += c;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const l = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(l);
        else this.lines.push(l);
      }
    });
  }
  next(): Promise<string> {
    const l = this.lines.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => this.waiters.push(r));
  }
}

function newAgent(connector: PodConnector): AgentClient {
  return new AgentClient({ exec: (cmd, o) => execStream(connector, cmd, o) });
}

function session(connector: PodConnector, started: KernelStarted, agent = newAgent(connector)): { s: KernelSession; agent: AgentClient } {
  const s = new KernelSession({ open: (signal) => agent.openStream({ kind: 'unix', path: started.socket }, { signal }) });
  return { s, agent };
}

/** Start (or find) the kernel as the editor does (src/notebook/notebook-kernel.ts): the pod agent
 *  starts beside the kernel's start, and the session attaches through it. */
async function connectKernel(
  env: BenchEnv,
  o: { cwd: string; kernelId: string },
): Promise<{ started: KernelStarted; s: KernelSession; agent: AgentClient }> {
  const agent = newAgent(env.connector);
  agent.start().catch(() => undefined);
  const started = await startKernel(env.pod, o);
  const a = session(env.connector, started, agent);
  await a.s.ready;
  return { started, ...a };
}

/** Execute and resolve when the reply and idle came; the first output's time too. */
function run(
  s: KernelSession,
  code: string,
  onRecord?: (r: Parameters<Parameters<KernelSession['onRecord']>[0]>[0]) => void,
): Promise<{ ms: number; firstOutputMs?: number }> {
  const t0 = now();
  const id = `b-${Math.random().toString(16).slice(2)}`;
  let reply = false;
  let idle = false;
  let first: number | undefined;
  return new Promise((resolve) => {
    const sub = s.onRecord((r) => {
      if (r.parent !== id) return;
      onRecord?.(r);
      if (first === undefined && r.ch === 'iopub' && (r.type === 'stream' || r.type === 'execute_result')) first = now() - t0;
      if (r.ch === 'shell' && r.type === 'execute_reply') reply = true;
      if (r.ch === 'iopub' && r.type === 'status' && r.content.execution_state === 'idle') idle = true;
      if (reply && idle) {
        sub.dispose();
        resolve({ ms: now() - t0, firstOutputMs: first });
      }
    });
    s.execute(code, null, id);
  });
}

export async function benchNotebook(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  await env.sh('mkdir -p /workspace/nb-bench');
  const kernelId = kernelIdFor(env.podId, `/workspace/nb-bench/bench-${Date.now()}.ipynb`);
  // First output of a new kernel: placement (the first time), IPython's start, the attach, a print.
  const t0 = now();
  const a = await connectKernel(env, { cwd: '/workspace/nb-bench', kernelId });
  const started = a.started;
  const first = await run(a.s, 'print("hello")');
  const firstOutput = now() - t0 - first.ms + (first.firstOutputMs ?? first.ms);
  results.push({
    key: 'notebook_first_output',
    label: 'notebook: new kernel → first output',
    unit: 'ms',
    ours: [firstOutput],
    goal: '≤ 5 s',
    met: firstOutput <= 5000,
  });

  const floorProc = await execStream(
    env.connector,
    quoteArgv(['python3', '-c', FLOOR, `${started.socket.replace(/\/s$/, '')}/kernel.json`]),
  );
  floorProc.stderr.resume();
  floorProc.done.catch(() => undefined); // closed by us at the end
  const floor = new LineReader(floorProc);
  const linkRtt = cfg.profile?.rttMs ?? 0;
  // Behind an emulated link the env crosses it already: no proxy of our own on top.
  const proxy = cfg.profile ? undefined : await startLatencyProxy({ host: env.sshHost, port: env.sshPort }, RTT_MS / 2);
  const wan = proxy ? session(env.via(proxy.port).connector, started) : undefined;
  try {
    if ((await floor.next()) !== 'ready') throw new Error('bench notebook: the floor client did not start');
    const floorRtt = async (): Promise<number> => {
      floorProc.stdin.write('go\n');
      return Number(await floor.next());
    };
    const reps = cfg.quick ? cfg.reps : Math.max(cfg.reps, 30);
    const lan = await interleave({ ...cfg, reps }, async () => (await run(a.s, '1+1')).ms, floorRtt);
    const dl = summarize(lan.ours).median - summarize(lan.reference).median;
    // Within 1.5 RTT of the floor on a link, and never stricter than loopback's 15 ms.
    const allowed = Math.max(15, 1.5 * linkRtt);
    results.push({
      key: 'notebook_rtt',
      label: 'notebook: 1+1 round trip vs jupyter_client in the pod',
      unit: 'ms',
      ...lan,
      goal: linkRtt > 0 ? `≤ floor + max(15 ms, 1.5 RTT) (${allowed} ms)` : '≤ floor + 15 ms',
      met: dl <= allowed,
      extra: { above_floor_ms: dl, ...(cfg.profile ? { rtt_ms: linkRtt } : {}) },
    });
    if (wan) {
      await wan.s.ready;
      const wanRun = await interleave(
        { ...cfg, reps: cfg.quick ? cfg.reps : Math.max(cfg.reps, 15) },
        async () => (await run(wan.s, '1+1')).ms,
        floorRtt,
      );
      const dw = summarize(wanRun.ours).median - summarize(wanRun.reference).median;
      results.push({
        key: 'notebook_rtt_wan',
        label: `notebook: 1+1 round trip at ${RTT_MS} ms RTT vs the floor`,
        unit: 'ms',
        ...wanRun,
        goal: `≤ floor + ${1.5 * RTT_MS} ms`,
        met: dw <= 1.5 * RTT_MS,
        extra: { above_floor_ms: dw, rtt_ms: RTT_MS },
      });
    }

    // Reattach: a new session to the running kernel (what a reloaded window does).
    const reattach: number[] = [];
    for (let i = 0; i < (cfg.quick ? 1 : 5); i++) {
      const t = now();
      const b = await connectKernel(env, { cwd: '/workspace/nb-bench', kernelId });
      reattach.push(now() - t);
      b.s.dispose();
      b.agent.dispose();
    }
    results.push({
      key: 'notebook_reattach',
      label: 'notebook: reattach (new window) → attached',
      unit: 'ms',
      ours: reattach,
      goal: '≤ 2 s',
      met: summarize(reattach).median <= 2000,
    });

    // Many lines: all delivered, in order; the cell's kept text bounded (not what a link changes).
    if (cfg.profile) return results;
    const n = cfg.quick ? 10_000 : 100_000;
    const outputs = new CellOutputs();
    let next = 0;
    let inOrder = true;
    let partial = '';
    const big = await run(a.s, `for i in range(${n}):\n    print(i)`, (r) => {
      outputs.apply(r);
      if (r.type !== 'stream') return;
      const text = partial + String(r.content.text);
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (Number(l) !== next++) inOrder = false;
    });
    const kept = outputs.outputs.reduce((m, o) => m + (o.kind === 'stream' ? o.text.length : 0), 0) / 1e6;
    results.push({
      key: 'notebook_lines',
      label: `notebook: a cell printing ${n} lines (kept text, MB)`,
      unit: 'MB',
      ours: [kept],
      goal: 'all delivered in order; kept text ≤ 4 MB',
      met: inOrder && next === n && kept <= 4.2,
      extra: { lines: next, in_order: inOrder, ms: big.ms },
    });
  } finally {
    floorProc.stdin.end();
    floorProc.close();
    wan?.s.dispose();
    wan?.agent.dispose();
    await proxy?.close();
    // Shut the kernel down and wait for the bridge to say so (bounded).
    const down = new Promise<void>((resolve) => a.s.onDidChangeState((st) => st.state === 'lost' && resolve()));
    a.s.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([down, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    a.s.dispose();
    a.agent.dispose();
  }
  return results;
}

/**
 * Scenario 9 — debugging on the GPU (src/kgpu/debug): the DAP over a pod agent stream to debugpy.
 *   first stop: "F5 on a warm pod" — startDebugJob, the editor's launch (the sync finds nothing
 *               changed; the program starts as a job under pod/debug_launch.py; the agent is up)
 *               → initialize, launch, a breakpoint, configurationDone → the `stopped` event.
 *               Goal ≤ 3 s on loopback; the reference (the floor) is the same start, launch and
 *               breakpoint driven locally in the pod by a stdlib DAP client, from its adapter's start.
 *   step:       one step-over round trip (`next` → `stopped`) through the bridge and the agent vs
 *               the same debugpy driven locally in the pod by a stdlib DAP client (the floor).
 *               Goal ≤ 2× the floor.
 * Across an emulated link (`--profiles`) the step's goal becomes ≤ 2× the floor + one RTT (the request
 * and the `stopped` event cross the link once each way); the first stop, which pays for the sync, the
 * job's start and the agent's stream over the link, is reported without a goal there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../src/kgpu/agent';
import { startDebugJob, type PodDebugSession } from '../../src/kgpu/debug';
import { JobRunner } from '../../src/kgpu/jobs/job-runner';
import { quoteArgv } from '../../src/kgpu/util/shell-quote';
import { execStream } from '../../src/kgpu/ssh/ssh-exec';
import { DapTestClient } from '../unit/debug/dap-test-client';
import type { BenchEnv } from './env';
import { interleave, now, summarize, type BenchConfig, type ScenarioResult } from './measure';

const LOOP = 'x = 0\nfor i in range(10 ** 7):\n    x += 1\n';
const LINE = 3;

/** A DAP client in the pod, talking to `python3 -m debugpy.adapter` over pipes: step round trips in ms. */
const REFERENCE_CLIENT = String.raw`
import json, os, subprocess, sys, time
prog, line, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
p = subprocess.Popen([sys.executable, "-m", "debugpy.adapter"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
seq = [0]
def send(cmd, args=None):
    seq[0] += 1
    body = json.dumps({"seq": seq[0], "type": "request", "command": cmd, "arguments": args or {}}).encode()
    p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    p.stdin.flush()
def read():
    size = None
    while True:
        l = p.stdout.readline()
        if not l:
            raise SystemExit("the adapter ended")
        if l == b"\r\n":
            break
        if l.lower().startswith(b"content-length:"):
            size = int(l.split(b":")[1])
    return json.loads(p.stdout.read(size))
def wait(pred):
    while True:
        m = read()
        if pred(m):
            return m
send("initialize", {"adapterID": "ref", "linesStartAt1": True, "columnsStartAt1": True, "pathFormat": "path"})
wait(lambda m: m.get("command") == "initialize")
send("launch", {"program": prog, "cwd": os.path.dirname(prog), "console": "internalConsole", "redirectOutput": True, "justMyCode": True})
wait(lambda m: m.get("event") == "initialized")
send("setBreakpoints", {"source": {"path": prog}, "breakpoints": [{"line": line}]})
wait(lambda m: m.get("command") == "setBreakpoints")
send("configurationDone")
tid = wait(lambda m: m.get("event") == "stopped")["body"]["threadId"]
first = (time.perf_counter() - started) * 1000
out = []
for _ in range(n):
    t0 = time.perf_counter()
    send("next", {"threadId": tid})
    wait(lambda m: m.get("event") == "stopped")
    out.append((time.perf_counter() - t0) * 1000)
send("disconnect", {"terminateDebuggee": True})
wait(lambda m: m.get("command") == "disconnect")
print(json.dumps({"first": first, "steps": out}))
`;

async function firstStop(
  env: BenchEnv,
  runner: JobRunner,
  agent: AgentClient,
  folder: string,
  file: string,
): Promise<{ ms: number; session: PodDebugSession; client: DapTestClient; threadId: number }> {
  const t0 = now();
  const session = await startDebugJob({
    podId: env.podId,
    agent,
    runner,
    pod: env.pod,
    target: { kind: 'local', folder, file },
    python: 'python',
    args: [],
    env: {},
  });
  const c = new DapTestClient(session.bridge);
  await c.ok('initialize', { adapterID: 'kgpu', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const launched = c.request('launch', { type: 'kgpu', request: 'launch', name: 'bench', program: file });
  await c.event('initialized');
  await c.ok('setBreakpoints', { source: { path: file }, breakpoints: [{ line: LINE }] });
  await c.ok('configurationDone');
  const stop = await c.event('stopped');
  const ms = now() - t0;
  if (!(await launched).success) throw new Error('bench debug: launch failed');
  return { ms, session, client: c, threadId: stop.body.threadId as number };
}

async function end(s: { session: PodDebugSession; client: DapTestClient }): Promise<void> {
  await s.client.request('disconnect', { terminateDebuggee: true });
  s.session.bridge.dispose();
}

export async function benchDebug(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const folder = path.join(env.tmp, 'debug-bench');
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, 'loop.py');
  fs.writeFileSync(file, LOOP);
  const agent = new AgentClient({ exec: (cmd, o) => execStream(env.connector, cmd, o) });
  const runner = new JobRunner({ commands: async () => env.pod, syncStateDir: path.join(env.tmp, 'debug-sync-state'), pollMs: 0 });
  const steps = cfg.quick ? 1 : 40;
  try {
    await agent.start();
    const remote = `/workspace/debug-bench/loop.py`;
    const inPod = async (n: number): Promise<{ first: number; steps: number[] }> =>
      JSON.parse(await env.sh(quoteArgv(['python3', '-c', REFERENCE_CLIENT, remote, String(LINE), String(n)]))) as {
        first: number;
        steps: number[];
      };
    // F5 → stopped (the warm-up run syncs the folder; the measured ones find it unchanged).
    const first = await interleave(
      cfg,
      async () => {
        const s = await firstStop(env, runner, agent, folder, file);
        await end(s);
        return s.ms;
      },
      async () => (await inPod(0)).first,
    );
    // Step-over round trips: ours through the bridge, the reference in the pod.
    const s = await firstStop(env, runner, agent, folder, file);
    const ours: number[] = [];
    try {
      for (let i = 0; i < steps; i++) {
        const t0 = now();
        await s.client.ok('next', { threadId: s.threadId });
        await s.client.event('stopped');
        ours.push(now() - t0);
      }
    } finally {
      await end(s);
    }
    const reference = (await inPod(steps)).steps;
    const o = summarize(ours).median;
    const r = summarize(reference).median;
    const rtt = cfg.profile?.rttMs ?? 0;
    return [
      {
        key: 'debug_first_stop',
        label: '9. debug: F5 → stopped at a breakpoint (warm pod)',
        unit: 'ms',
        ours: first.ours,
        reference: first.reference,
        goal: rtt > 0 ? '—' : '≤ 3000 ms',
        met: rtt > 0 ? null : summarize(first.ours).median <= 3000,
        extra: { reference_is: 'the same session driven in the pod by a local DAP client (no sync, no agent, no SSH)' },
      },
      {
        key: 'debug_step',
        label: '9. debug: step-over round trip vs debugpy driven in the pod',
        unit: 'ms',
        ours,
        reference,
        goal: rtt > 0 ? `≤ 2× the in-pod floor + RTT (${rtt} ms)` : '≤ 2× the in-pod floor',
        met: o <= 2 * r + rtt,
        extra: { steps, ...(cfg.profile ? { rtt_ms: rtt } : {}) },
      },
    ];
  } finally {
    agent.dispose();
    runner.dispose();
  }
}

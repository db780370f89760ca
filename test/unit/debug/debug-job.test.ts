/**
 * Debug on GPU as a job (issue 21's leftovers), against a simulator pod that reaches the
 * simulator's package index: the debugged program is synced and its project's requirements.txt
 * installed exactly as Run does, and it runs under that environment's python (it imports the
 * package); it is a job of the JobRunner (log in the pod, exit code) while the debugger attaches
 * through an agent stream; a dropped connection stops it by default, or with "keepRunning" leaves
 * it running, found again by its debugpy port (findDebugPorts) and reattached.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../../../src/kgpu/agent';
import { findDebugPorts, startDebugJob, startPodDebug, type DebugJobSpec } from '../../../src/kgpu/debug';
import type { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import type { JobStatus } from '../../../src/kgpu/jobs/jobs';
import { PodConnector } from '../../../src/kgpu/ssh/ssh-connection';
import { execStream } from '../../../src/kgpu/ssh/ssh-exec';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { startTcpGate, type TcpGate } from '../kgpu/ssh/tcp-gate';
import { waitFor } from '../wait-for';
import { startDepsPod, JOBS_ROOT, type DepsPod } from '../deps/deps-fixture';
import { DapTestClient } from './dap-test-client';

describe('Debug on GPU as a job of the rental', () => {
  let d: DepsPod;
  let gate: TcpGate;
  let runner: JobRunner;
  const clients: AgentClient[] = [];
  const connectors: PodConnector[] = [];
  before(async () => {
    d = await startDepsPod();
    gate = await startTcpGate({ host: d.fx.bastion.host, port: d.fx.bastion.port });
    runner = d.runner();
  });
  after(async () => {
    for (const c of clients) c.dispose();
    for (const c of connectors) c.dispose();
    await gate?.close();
    await d?.stop();
  });

  /** An agent over a gated connection (the test can cut it). */
  function agent(): AgentClient {
    const c = new PodConnector({
      host: d.fx.bastion.host,
      port: gate.port,
      privateKey: d.fx.privateKey,
      hostKeys: d.fx.hostKeys,
      readyTimeoutMs: 10_000,
    });
    connectors.push(c);
    const a = new AgentClient({ exec: (cmd, o) => execStream(c, cmd, o) });
    clients.push(a);
    return a;
  }

  function project(name: string, files: Record<string, string>): { folder: string; file: (f: string) => string } {
    const folder = path.join(d.tmp, name);
    fs.mkdirSync(folder, { recursive: true });
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(folder, f), text);
    return { folder, file: (f) => path.join(folder, f) };
  }

  function spec(folder: string, file: string, extra: Partial<DebugJobSpec> = {}): DebugJobSpec {
    return {
      podId: d.fx.podId,
      agent: agent(),
      runner,
      pod: podCommands(d.fx.connector()),
      target: { kind: 'local', folder, file },
      python: 'python',
      args: [],
      env: {},
      jobsRoot: JOBS_ROOT,
      ...extra,
    };
  }

  /** The job's final status, waited for (bounded). */
  async function ended(done: Promise<{ job: { status: JobStatus } }>): Promise<JobStatus> {
    let status: JobStatus | undefined;
    void done.then((r) => (status = r.job.status));
    return waitFor('the job to end', () => status, 60_000);
  }

  /** Every process's command line in the pod, one a line. */
  function commandLines(): Promise<string> {
    return d.sh(`for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done`);
  }

  async function begin(c: DapTestClient, file: string, lines: number[]): Promise<void> {
    await c.ok('initialize', { clientID: 'kgpu-test', adapterID: 'kgpu', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const launched = c.request('launch', { type: 'kgpu', request: 'launch', name: 'test', program: file });
    await c.event('initialized');
    const bps = await c.ok('setBreakpoints', { source: { path: file }, breakpoints: lines.map((line) => ({ line })) });
    assert.ok(
      bps.breakpoints.every((b: any) => b.verified),
      JSON.stringify(bps),
    );
    await c.ok('setExceptionBreakpoints', { filters: [] });
    await c.ok('configurationDone');
    const r = await launched;
    assert.ok(r.success, `launch failed: ${r.message}`);
  }

  async function locals(c: DapTestClient, threadId: number): Promise<Map<string, string>> {
    const st = await c.ok('stackTrace', { threadId, startFrame: 0, levels: 20 });
    const { scopes } = await c.ok('scopes', { frameId: st.stackFrames[0].id });
    const { variables } = await c.ok('variables', { variablesReference: scopes[0].variablesReference });
    return new Map(variables.map((v: any) => [v.name, v.value]));
  }

  it("runs under the project's environment (requirements.txt from the index, as Run installs it) as a job with its log and exit code", async () => {
    const p = project('dbgdeps', {
      'requirements.txt': 'kgpu-demo-utils==1.0.0\n',
      'main.py':
        'import sys, kgpu_demo_utils\nversion = kgpu_demo_utils.__version__\nprint("prefix", sys.prefix, flush=True)\nprint("utils", version, flush=True)\nsys.exit(5)\n',
    });
    const deps: string[] = [];
    const s = await startDebugJob(spec(p.folder, p.file('main.py'), { onDepsOutput: (l) => deps.push(l) }));
    const c = new DapTestClient(s.bridge);
    try {
      const env = await s.handle.deps;
      assert.ok(env, 'the project has an environment');
      assert.match(
        s.handle.plan.command,
        new RegExp(`^${env.plan.venvDir}/bin/python /tmp/kgpu-\\d+/debug_launch_[0-9a-f]{16}\\.py main\\.py$`),
      );
      await begin(c, p.file('main.py'), [3]);
      const stop = await c.event('stopped');
      assert.equal(stop.body.reason, 'breakpoint');
      assert.equal((await locals(c, stop.body.threadId)).get('version'), `'1.0.0'`, 'the package from the index is imported');
      await c.ok('continue', { threadId: stop.body.threadId });
      assert.equal((await c.event('exited')).body.exitCode, 5);
      await c.event('terminated');
      assert.match(c.output(), new RegExp(`prefix ${env.plan.venvDir}\\n`), 'the program ran under the environment');
      assert.match(c.output(), /utils 1\.0\.0\n/);
      // The job, as Run's: tracked by the runner with its exit code; its log in the pod.
      const job = runner.get(d.fx.podId, s.handle.jobId);
      assert.deepEqual(job?.info.status, { state: 'exited', exitCode: 5 });
      const log = await d.sh(`cat ${JOBS_ROOT}/${s.handle.jobId}/log`);
      assert.match(log, /utils 1\.0\.0/);
    } finally {
      s.bridge.dispose();
    }
  });

  it("stopOnEntry stops on the first line of the script (not in kgpu's launcher)", async () => {
    const p = project('dbgentry', { 'entry.py': 'first = 1\nsecond = 2\nprint("entry done", first + second)\n' });
    const s = await startDebugJob(spec(p.folder, p.file('entry.py'), { stopOnEntry: true }));
    const c = new DapTestClient(s.bridge);
    try {
      await begin(c, p.file('entry.py'), []);
      const stop = await c.event('stopped');
      const st = await c.ok('stackTrace', { threadId: stop.body.threadId, startFrame: 0, levels: 5 });
      assert.equal(st.stackFrames[0].source.path, p.file('entry.py'));
      assert.equal(st.stackFrames[0].line, 1);
      await c.ok('continue', { threadId: stop.body.threadId });
      assert.equal((await c.event('exited')).body.exitCode, 0);
      await c.event('terminated');
      assert.match(c.output(), /entry done 3/);
    } finally {
      s.bridge.dispose();
    }
  });

  it('a pod Python without debugpy: the launch fails saying how to install it', async () => {
    await d.sh('rm -rf /tmp/kgpu-nodebugpy-job && python3 -m venv --without-pip /tmp/kgpu-nodebugpy-job');
    const p = project('dbgnone', { 'hello.py': 'print("hi")\n' });
    await assert.rejects(
      startDebugJob(spec(p.folder, p.file('hello.py'), { python: '/tmp/kgpu-nodebugpy-job/bin/python' })),
      /ended \(exited with code 3\) before debugpy listened[\s\S]*debugpy is not installed for \/tmp\/kgpu-nodebugpy-job\/bin\/python[\s\S]*-m pip install debugpy/,
    );
  });

  const LOOP = 'import os, time\nn = 0\nwhile True:\n    n += 1\n    time.sleep(0.1)\n';

  it('a dropped connection while paused stops the job by default ("onDisconnect": "stop")', async () => {
    const p = project('dbgdrop', { 'loop.py': LOOP });
    gate.mode = 'hold';
    const held = gate.next().then((h) => {
      h.pass();
      return h;
    });
    const s = await startDebugJob(spec(p.folder, p.file('loop.py')));
    const conn = await held;
    gate.mode = 'pass';
    const c = new DapTestClient(s.bridge);
    try {
      await begin(c, p.file('loop.py'), [4]);
      assert.equal((await c.event('stopped')).body.reason, 'breakpoint');
      assert.equal(runner.get(d.fx.podId, s.handle.jobId)?.info.status.state, 'running');
      conn.kill();
      const out = await c.event('output', (m) => /connection to pod .* was lost/.test(String(m.body?.output)));
      assert.match(String(out.body.output), /program in the pod was stopped/);
      const end = await ended(s.handle.done);
      assert.equal(end.state, 'killed', JSON.stringify(end));
    } finally {
      gate.mode = 'pass';
      s.bridge.dispose();
    }
  });

  it('with "onDisconnect": "keepRunning" a drop leaves the job running; its debugpy port is found and the debugger reattaches', async () => {
    const p = project('dbgkeep', { 'loop.py': LOOP.replace('while True:', 'while n < 1_000_000:') + 'print("done", n, flush=True)\n' });
    gate.mode = 'hold';
    const held = gate.next().then((h) => {
      h.pass();
      return h;
    });
    const s = await startDebugJob(spec(p.folder, p.file('loop.py'), { onDisconnect: 'keepRunning' }));
    const conn = await held;
    gate.mode = 'pass';
    const c = new DapTestClient(s.bridge);
    try {
      await begin(c, p.file('loop.py'), [4]);
      assert.equal((await c.event('stopped')).body.reason, 'breakpoint');
      conn.kill();
      const out = await c.event('output', (m) => /connection to pod .* was lost/.test(String(m.body?.output)));
      assert.match(String(out.body.output), /goes on running in the pod as job/);
      // The drop has reached the pod: the relay there has ended (with "stop" it would stop the job now).
      const jobDir = `${JOBS_ROOT}/${s.handle.jobId}`;
      await waitFor('the relay in the pod to end', async () => !(await commandLines()).includes(`${jobDir} keepRunning`), 60_000);
      // Still running: the job's status read again from the pod.
      const jobs = await runner.refresh(d.fx.podId);
      assert.equal(jobs.find((j) => j.info.id === s.handle.jobId)?.info.status.state, 'running');

      // kgpu: Attach Debugger on the job finds debugpy's port by itself.
      const ports = await findDebugPorts(podCommands(d.fx.connector()), s.handle.jobId, { jobsRoot: JOBS_ROOT });
      assert.deepEqual(
        ports.map((x) => x.port),
        [s.port],
      );
      const again = await startPodDebug({
        request: 'attach',
        podId: d.fx.podId,
        agent: agent(),
        python: 'python',
        port: ports[0].port,
        localRoot: p.folder,
        remoteRoot: '/workspace/dbgkeep',
      });
      const c2 = new DapTestClient(again.bridge);
      try {
        await c2.ok('initialize', { adapterID: 'kgpu', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
        const attached = c2.request('attach', { type: 'kgpu', request: 'attach', name: 'again' });
        await c2.event('initialized');
        await c2.ok('setBreakpoints', { source: { path: p.file('loop.py') }, breakpoints: [{ line: 4 }] });
        await c2.ok('configurationDone');
        assert.ok((await attached).success);
        const stop = await c2.event('stopped');
        assert.ok(Number((await locals(c2, stop.body.threadId)).get('n')) > 0);
        // Let it finish: the breakpoint removed, n set near the end.
        await c2.ok('setBreakpoints', { source: { path: p.file('loop.py') }, breakpoints: [] });
        const st = await c2.ok('stackTrace', { threadId: stop.body.threadId, startFrame: 0, levels: 1 });
        await c2.ok('evaluate', { expression: 'n = 999_990', frameId: st.stackFrames[0].id, context: 'repl' });
        await c2.ok('continue', { threadId: stop.body.threadId });
        assert.deepEqual(await ended(s.handle.done), { state: 'exited', exitCode: 0 });
        await waitFor('the log to end with the last line', async () =>
          /done 1000000/.test(await d.sh(`cat ${JOBS_ROOT}/${s.handle.jobId}/log`)),
        );
      } finally {
        again.bridge.dispose();
      }
    } finally {
      gate.mode = 'pass';
      s.bridge.dispose();
    }
  });
});

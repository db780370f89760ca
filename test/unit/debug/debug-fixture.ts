/**
 * The pod the debug tests debug in: an agent fixture (a simulator pod behind a TCP gate,
 * test/unit/agent/agent-fixture.ts), a JobRunner over it, local project folders, launches as the
 * editor makes them (startDebugJob), and the DAP steps VS Code takes (begin, the top frame, locals).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { startDebugJob, type PodDebugSession, type StreamOpener } from '../../../src/kgpu/debug';
import type { RunTarget } from '../../../src/kgpu/jobs/job-runner';
import { JobRunner } from '../../../src/kgpu/jobs/job-runner';
import { podCommands } from '../../../src/kgpu/ssh/pod-commands';
import { startAgentFixture, type AgentFixture } from '../agent/agent-fixture';
import type { DapTestClient } from './dap-test-client';

/** What a launch configuration gives the launch. */
export interface LaunchSpec {
  podId: string;
  agent: StreamOpener;
  target: RunTarget;
  python: string;
  args: string[];
  env: Record<string, string>;
  justMyCode?: boolean;
}

export interface DebugPod {
  /** The pod (set once the file's before() ran). */
  f: AgentFixture;
  /** A local project folder ("my proj" unless `folder`) with `name` in it; returns the file's path. */
  project(name: string, source: string, folder?: string): { folder: string; file: string };
  launchSpec(target: { folder: string; file: string }, extra?: Partial<LaunchSpec>): LaunchSpec;
  /** A launch as the editor does it: the program a job of the runner under debugpy (startDebugJob). */
  launch(spec: LaunchSpec): Promise<PodDebugSession>;
}

/** Registers the file's before/after: the pod, a temp folder for projects and a JobRunner. */
export function useDebugPod(): DebugPod {
  let tmp: string;
  let runner: JobRunner;
  const d: DebugPod = {
    f: undefined as unknown as AgentFixture,
    project(name, source, folder = 'my proj') {
      const dir = path.join(tmp, folder);
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, name);
      fs.writeFileSync(file, source);
      return { folder: dir, file };
    },
    launchSpec(target, extra = {}) {
      return {
        podId: d.f.pod.podId,
        agent: d.f.client(),
        target: { kind: 'local', ...target },
        python: 'python',
        args: [],
        env: {},
        ...extra,
      };
    },
    launch(spec) {
      if (spec.target.kind !== 'local') throw new Error('a local target');
      return startDebugJob({
        podId: spec.podId,
        agent: spec.agent,
        runner,
        pod: podCommands(d.f.pod.connector()),
        target: spec.target,
        python: spec.python,
        args: spec.args,
        env: spec.env,
        justMyCode: spec.justMyCode,
      });
    },
  };
  before(async () => {
    d.f = await startAgentFixture();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-debug-'));
    runner = new JobRunner({ commands: async () => podCommands(d.f.pod.connector()), pollMs: 0 });
  });
  after(async () => {
    runner?.dispose();
    await d.f?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });
  return d;
}

/** initialize, launch, the breakpoints, configurationDone — as VS Code orders them. */
export async function begin(
  c: DapTestClient,
  file: string,
  breakpoints: Record<string, { line: number; condition?: string }[]>,
  filters: string[] = [],
): Promise<any[]> {
  const caps = await c.ok('initialize', {
    clientID: 'kgpu-test',
    adapterID: 'kgpu',
    linesStartAt1: true,
    columnsStartAt1: true,
    pathFormat: 'path',
    supportsVariableType: true,
  });
  assert.equal(caps.supportsConfigurationDoneRequest, true);
  const launched = c.request('launch', { type: 'kgpu', request: 'launch', name: 'test', program: file });
  await c.event('initialized');
  const results: any[] = [];
  for (const [p, bps] of Object.entries(breakpoints)) results.push(await c.ok('setBreakpoints', { source: { path: p }, breakpoints: bps }));
  await c.ok('setExceptionBreakpoints', { filters });
  await c.ok('configurationDone');
  const r = await launched;
  assert.ok(r.success, `launch failed: ${r.message}`);
  return results;
}

export async function topFrame(c: DapTestClient, threadId: number): Promise<any> {
  const st = await c.ok('stackTrace', { threadId, startFrame: 0, levels: 20 });
  return st.stackFrames[0];
}

export async function locals(c: DapTestClient, frameId: number): Promise<Map<string, string>> {
  const { scopes } = await c.ok('scopes', { frameId });
  const local = scopes.find((s: any) => /local/i.test(s.name)) ?? scopes[0];
  const { variables } = await c.ok('variables', { variablesReference: local.variablesReference });
  return new Map(variables.map((v: any) => [v.name, v.value]));
}

/**
 * The runner with the pod's session (src/kgpu/ssh/pod-session.ts), against the full simulator:
 * a Run's sync tells the session which paths it changed, so a kgpu: file system with a watch open
 * on the pod folder reports the synced files (and stops answering from its cache) without waiting
 * for the watch's next poll; the Run's log follow reconnects with the session's one policy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkspaceFs } from '../../../../src/kgpu/fs/workspace-fs';
import { JobRunner } from '../../../../src/kgpu/jobs/job-runner';
import { PodSession } from '../../../../src/kgpu/ssh/pod-session';
import { backoffReconnectPolicy, type ReconnectPolicy } from '../../../../src/kgpu/ssh/reconnect-policy';
import { startRunFixture, type RunFixture } from './run-fixture';

let fx: RunFixture;
before(async () => {
  fx = await startRunFixture();
});
after(async () => {
  await fx?.stop();
});

function sessionWith(reconnect?: ReconnectPolicy): PodSession {
  return new PodSession({ podId: fx.podId, createConnector: async () => fx.connector(), reconnect });
}

function runnerFor(session: PodSession, name: string): JobRunner {
  return new JobRunner({ commands: async () => session.commands, session: () => session, syncStateDir: fx.tmp(name), pollMs: 0 });
}

const visible = (entries: [string, number][]): string[] =>
  entries
    .map(([n]) => n)
    .filter((n) => !n.startsWith('.'))
    .sort();

test('a file synced by Run is seen by an open watch on the pod folder, and the folder is listed afresh', async () => {
  const project = fx.tmp('watched-project');
  const dir = '/workspace/watched-project';
  fs.writeFileSync(path.join(project, 'main.py'), 'print("run")\n');
  const session = sessionWith();
  const runner = runnerFor(session, 'sync-state-watch');
  const wfs = new WorkspaceFs({
    podId: fx.podId,
    connector: () => session.connector(),
    sftp: () => session.sftp(),
    onDidChangePaths: session.onDidChangePaths,
    cacheTtlMs: 600_000, // answers are reused for 10 minutes: only the session's notice can refresh them
    debounceMs: 1,
    watchMode: 'poll',
    pollIntervalMs: 600_000, // the watch's own poll would see the files only in 10 minutes
  });
  const run = () =>
    runner.runFile({
      podId: fx.podId,
      target: { kind: 'local', folder: project, file: path.join(project, 'main.py') },
      python: 'python3',
      args: [],
      env: {},
    });
  try {
    await run().done;
    const watch = wfs.watch(dir, { recursive: true });
    await watch.ready;
    assert.deepEqual(visible(await wfs.readDirectory(dir)), ['main.py']);
    const seen: string[] = [];
    wfs.onDidChange((changes) => seen.push(...changes.map((c) => c.path)));

    fs.writeFileSync(path.join(project, 'helper.py'), 'X = 1\n');
    fs.mkdirSync(path.join(project, 'lib'));
    fs.writeFileSync(path.join(project, 'lib', 'util.py'), 'Y = 2\n');
    const second = run();
    const synced = await second.synced;
    assert.equal(synced?.uploadedFiles, 2);
    for (const p of [`${dir}/helper.py`, `${dir}/lib/util.py`, `${dir}/lib`])
      assert.ok(seen.includes(p), `the change of ${p} was reported (got ${seen.join(', ')})`);
    assert.ok(!seen.includes(`${dir}/main.py`), 'an unchanged file is not reported');
    assert.deepEqual(visible(await wfs.readDirectory(dir)), ['helper.py', 'lib', 'main.py']);
    assert.deepEqual(visible(await wfs.readDirectory(`${dir}/lib`)), ['util.py']);
    await second.done;
    watch.dispose();
  } finally {
    runner.dispose();
    wfs.dispose();
    session.dispose();
  }
});

test("a Run's log follow reconnects with the session's policy after a dropped connection", async () => {
  const project = fx.tmp('follow-project');
  fs.writeFileSync(
    path.join(project, 'wait.py'),
    'import os, time\nprint("waiting", flush=True)\nwhile not os.path.exists("go"):\n    time.sleep(0.05)\nprint("done", flush=True)\n',
  );
  const base = backoffReconnectPolicy();
  const waits: number[] = [];
  const policy: ReconnectPolicy = {
    isTransient: base.isTransient,
    maxAttempts: base.maxAttempts,
    retryDelayMs: base.retryDelayMs,
    delayMs: (failures) => {
      waits.push(failures);
      return base.delayMs(failures);
    },
  };
  const session = sessionWith(policy);
  const runner = runnerFor(session, 'sync-state-follow');
  let text = '';
  let firstOutput!: () => void;
  const printed = new Promise<void>((resolve) => (firstOutput = resolve));
  try {
    const h = runner.runFile({
      podId: fx.podId,
      target: { kind: 'local', folder: project, file: path.join(project, 'wait.py') },
      python: 'python3',
      args: [],
      env: {},
      onData: (chunk) => {
        text += chunk.toString('utf8');
        if (text.includes('waiting\n')) firstOutput();
      },
    });
    await printed;
    fx.sim.bastion.dropConnections({ podId: fx.podId });
    await fx.sh('touch /workspace/follow-project/go');
    const r = await h.done;
    assert.ok(r.reconnects >= 1, 'the follower had to reconnect');
    assert.ok(waits.length >= 1, "the follower waited as the session's policy said");
    assert.equal(text, 'waiting\ndone\n');
    assert.deepEqual(r.job.status, { state: 'exited', exitCode: 0 });
  } finally {
    runner.dispose();
    session.dispose();
  }
});

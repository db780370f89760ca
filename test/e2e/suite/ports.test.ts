// Port forwarding and GPU telemetry through the pod agent, in a real VS Code against the
// simulator: a web server started in the pod is forwarded to this machine's 127.0.0.1 and fetched
// byte for byte; the forward is a row under its rental (copy address, stop); the rental row shows
// live GPU numbers while the sidebar is visible.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { RunStarted } from '../../../src/platform/run-started';
import type { KgpuServices } from '../../../src/platform/services';
import { openKgpuSidebar, waitUntil } from './helpers/extension';
import { needsSimulator, simApi } from './helpers/simulator';

describe('ports and telemetry through the pod agent', () => {
  const sim = needsSimulator();
  let services: KgpuServices;
  let podId: string | undefined;
  const page = `<html><body>kgpu forwarded ${Math.random().toString(36).slice(2)}</body></html>`;

  before(async function () {
    this.timeout(90_000);
    const ext = await openKgpuSidebar();
    services = ext.exports as KgpuServices;
    await services.ready;
    await waitUntil(() => services.auth.signedIn, 10_000, 'sign-in from the environment');
    podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', {
      gpu_model: 'rtx3090',
      gpu_count: 1,
      name: 'e2e-ports',
      yes: true,
    });
    assert.equal(typeof podId, 'string', 'a pod');
    await waitUntil(() => services.pods.get(podId!)?.ready === true, 20_000, 'the pod to be ready in the model');
    // A web server in the pod, on its loopback only (the pod has no ingress), detached from the exec.
    const start = await simApi<{ exit_code: number; stdout: string; stderr: string }>(sim(), `/pods/${podId}/exec`, {
      method: 'POST',
      body: JSON.stringify({
        cmd: [
          'sh',
          '-c',
          'mkdir -p /workspace/www && cat > /workspace/www/index.html && setsid -f python3 -m http.server 8000 --bind 127.0.0.1 --directory /workspace/www </dev/null >/dev/null 2>&1',
        ],
        stdin: page,
      }),
    });
    assert.equal(start.exit_code, 0, start.stderr);
  });

  after(async function () {
    this.timeout(30_000);
    await vscode.workspace.getConfiguration('kgpu').update('idleGuardMinutes', undefined, vscode.ConfigurationTarget.Global);
    if (podId && services.pods.get(podId)?.ready) await vscode.commands.executeCommand('kgpu.release', { podId, yes: true });
  });

  /** Run a job that holds ~300 MB and prints "holding" until `marker` exists in the pod. */
  async function holdingJob(name: string, marker: string): Promise<RunStarted> {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const file = vscode.Uri.joinPath(folder, name);
    await vscode.workspace.fs.writeFile(
      file,
      Buffer.from(
        'import os, time\nbuf = bytearray(300 * 1024 * 1024)\nprint("holding", flush=True)\n' +
          `while not os.path.exists(${JSON.stringify(marker)}):\n    time.sleep(0.2)\nprint("done", flush=True)\n`,
      ),
    );
    const run = await vscode.commands.executeCommand<RunStarted | undefined>('kgpu.runActiveFile', { podId, file, noPrompt: true });
    assert.ok(run, 'the job started');
    await waitUntil(() => /holding/.test(run.text()), 60_000, `${name} to hold its memory`);
    return run;
  }

  async function touch(marker: string): Promise<void> {
    const r = await simApi<{ exit_code: number; stderr: string }>(sim(), `/pods/${podId}/exec`, {
      method: 'POST',
      body: JSON.stringify({ cmd: ['touch', marker] }),
    });
    assert.equal(r.exit_code, 0, r.stderr);
  }

  const telemetryState = (): Thenable<{ running: boolean; idleQuestionPending: boolean; summary?: string }> =>
    vscode.commands.executeCommand('kgpu._telemetryState', podId);

  it('forwards a pod-side web server to 127.0.0.1 and fetches it; the forward is a row under its rental', async function () {
    this.timeout(60_000);
    // The server may need a moment to bind: retry the fetch, not the forward.
    const node = await vscode.commands.executeCommand<{ podId: string; podPort: number; localPort: number } | undefined>(
      'kgpu.forwardPort',
      { podId, podPort: 8000, localPort: 0 },
    );
    assert.ok(node, 'the command resolves with the forward');
    assert.equal(node.podPort, 8000);
    let body = '';
    await waitUntil(
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${node!.localPort}/index.html`);
          body = await res.text();
          return res.status === 200;
        } catch {
          return false;
        }
      },
      30_000,
      'the forwarded page',
    );
    assert.equal(body, page);

    const pod = services.pods.get(podId!)!;
    const row = (services.rentalChildren.childrenOf(pod) as { kind?: string; podPort?: number }[]).find(
      (r) => r.kind === 'forwardedPort' && r.podPort === 8000,
    );
    assert.ok(row, 'a forwarded-port row under the rental');
    const item = services.rentalChildren.treeItemOf(row)!;
    assert.equal(item.label, `localhost:${node.localPort}`);
    assert.equal(item.contextValue, 'kgpu.forwardedPort');
    assert.match(String(item.description), /→ pod port 8000/);
    const external = await vscode.env.asExternalUri(vscode.Uri.parse(`http://127.0.0.1:${node.localPort}/`));
    assert.ok(external.toString().length > 0);

    const address = await vscode.commands.executeCommand<string>('kgpu.copyForwardedPortAddress', row);
    assert.equal(address, `127.0.0.1:${node.localPort}`);
    assert.equal(await vscode.env.clipboard.readText(), address);

    assert.equal(await vscode.commands.executeCommand<boolean>('kgpu.stopForwardingPort', row), true);
    await assert.rejects(fetch(`http://127.0.0.1:${node.localPort}/index.html`));
    assert.equal(
      (services.rentalChildren.childrenOf(pod) as { kind?: string }[]).some((r) => r.kind === 'forwardedPort'),
      false,
    );
  });

  it('the rental row shows live GPU numbers while the sidebar is visible', async function () {
    this.timeout(60_000);
    await vscode.commands.executeCommand('workbench.view.extension.kgpu');
    let description = '';
    await waitUntil(
      async () => {
        const row = await vscode.commands.executeCommand<{ description?: string } | undefined>('kgpu._rentalRow', podId);
        description = String(row?.description ?? '');
        return /GPU \d+% · [\d.]+\/24 GiB/.test(description);
      },
      45_000,
      'GPU numbers in the rental row',
    );
    assert.match(description, /GPU \d+% · [\d.]+\/24 GiB/);
  });

  it("a running job's GPU numbers reach the status-bar tooltip, and its peak GPU memory the log footer", async function () {
    this.timeout(120_000);
    await vscode.commands.executeCommand('workbench.view.extension.kgpu');
    const marker = `/tmp/kgpu-e2e-peak-${Date.now()}`;
    const run = await holdingJob('hold_peak.py', marker);
    let tooltip = '';
    await waitUntil(
      async () => {
        tooltip = String((await vscode.commands.executeCommand<string | undefined>('kgpu._statusBarTooltip')) ?? '');
        return /e2e-ports · GPU 0: \d+% · [\d.]+\/24 GiB/.test(tooltip);
      },
      45_000,
      'GPU numbers in the status-bar tooltip',
    );
    // The job's memory is in the numbers before it ends (the peak is what the footer shows).
    await waitUntil(
      async () => Number(/· ([\d.]+)\/24 GiB/.exec((await telemetryState()).summary ?? '')?.[1] ?? 0) >= 0.25,
      45_000,
      "the job's memory in the telemetry",
    );
    await touch(marker);
    const end = await run.done;
    assert.equal(end.exitCode, 0);
    await waitUntil(() => /peak GPU memory [\d.]+\/24 GiB/.test(run.text()), 20_000, 'the peak in the footer');
    const peak = Number(/peak GPU memory ([\d.]+)\/24 GiB/.exec(run.text())![1]);
    assert.ok(peak >= 0.25, `peak ${peak} GiB covers the job's 300 MB`);
  });

  it('the idle guard asks once the pod idles; telemetry pauses until the question is answered (dismissed = Keep)', async function () {
    this.timeout(120_000);
    await vscode.commands.executeCommand('workbench.view.extension.kgpu');
    await waitUntil(async () => (await telemetryState()).running, 30_000, 'telemetry while the sidebar is visible');
    // ~1 s of idle GPUs (no job of this window runs) is enough to ask.
    await vscode.workspace.getConfiguration('kgpu').update('idleGuardMinutes', 0.02, vscode.ConfigurationTarget.Global);
    await waitUntil(async () => (await telemetryState()).idleQuestionPending, 60_000, 'the idle question');
    assert.equal((await telemetryState()).running, false, 'no telemetry while the question is open');
    await vscode.commands.executeCommand('notifications.clearAll');
    await waitUntil(async () => !(await telemetryState()).idleQuestionPending, 30_000, 'the dismissed question');
    await waitUntil(async () => (await telemetryState()).running, 30_000, 'telemetry again after the answer');
    await vscode.workspace.getConfiguration('kgpu').update('idleGuardMinutes', undefined, vscode.ConfigurationTarget.Global);
  });

  it('Release when done: the pod is released when the chosen job ends', async function () {
    this.timeout(120_000);
    const marker = `/tmp/kgpu-e2e-release-${Date.now()}`;
    const run = await holdingJob('hold_release.py', marker);
    const plan = await vscode.commands.executeCommand<{ podId: string; jobId: string } | undefined>('kgpu.releaseWhenDone', {
      podId,
      jobId: run.jobId,
      paths: [],
    });
    assert.deepEqual(plan && { podId: plan.podId, jobId: plan.jobId }, { podId, jobId: run.jobId });
    assert.equal(services.pods.get(podId!)?.ready, true, 'still rented while the job runs');
    await touch(marker);
    await run.done;
    await waitUntil(
      () => {
        const pod = services.pods.get(podId!);
        return !pod || !['Pending', 'Running'].includes(pod.phase);
      },
      60_000,
      'the pod to be released',
    );
  });
});

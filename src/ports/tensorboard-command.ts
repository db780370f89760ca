import * as vscode from 'vscode';
import type { AgentClient } from '../kgpu/agent';
import { listListeningSockets } from '../kgpu/ports';
import { quoteArgv } from '../kgpu/util/shell-quote';
import type { KgpuServices } from '../platform/services';
import { forwardedPortsFor } from './forwarded-ports';
import { podAgentsFor } from '../platform/pod-agents';

/**
 * `kgpu: Open TensorBoard…`: when the pod has TensorBoard (on PATH, in /workspace/.venv, or as a
 * Python module), start `tensorboard --logdir <dir> --host 127.0.0.1` detached in the pod (it
 * outlives the agent), wait until it listens, forward its port and open it. When the image has
 * no TensorBoard, say so and how to install it — nothing is started.
 * Argument (tests): `{ podId, logdir? }`. Resolves 'missing', the forward's local port, or undefined.
 */
const PROBE =
  'if [ -x /workspace/.venv/bin/tensorboard ]; then echo /workspace/.venv/bin/tensorboard; elif command -v tensorboard >/dev/null 2>&1; then command -v tensorboard; elif python3 -c "import tensorboard" >/dev/null 2>&1; then echo module; else echo none; fi';

async function run(agent: AgentClient, argv: string[]): Promise<{ out: string; code: number | null }> {
  const s = await agent.openStream({ kind: 'process', argv, stderr: 'discard', cwd: '/workspace' });
  s.end();
  let out = '';
  s.setEncoding('utf8');
  for await (const c of s as AsyncIterable<string>) if (out.length < 65536) out += c;
  const exit = await s.exit;
  return { out: out.trim(), code: exit?.exitCode ?? null };
}

export function registerTensorBoardCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.openTensorBoard', async (arg?: unknown) => {
    const pod = await services.pickPod(arg, { ready: true, title: 'kgpu: open TensorBoard on which pod?' });
    if (!pod) return undefined;
    const o = arg && typeof arg === 'object' ? (arg as { logdir?: unknown }) : {};
    const agent = podAgentsFor(services).get(pod.pod_id);
    try {
      const probe = await run(agent, ['sh', '-c', PROBE]);
      if (probe.out === 'none' || probe.out === '') {
        void vscode.window.showWarningMessage(
          `kgpu: TensorBoard is not installed in ${pod.name}'s image. Install it in the pod (python3 -m venv --system-site-packages /workspace/.venv && /workspace/.venv/bin/pip install tensorboard), then run "kgpu: Open TensorBoard…" again — or forward a port of your own server with "kgpu: Forward Port…".`,
        );
        return 'missing';
      }
      const logdir =
        typeof o.logdir === 'string'
          ? o.logdir
          : await vscode.window.showInputBox({
              title: 'kgpu: TensorBoard log directory in the pod',
              value: '/workspace/runs',
              prompt: 'The --logdir of TensorBoard (a path in the pod)',
            });
      if (!logdir) return undefined;
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `kgpu: starting TensorBoard in ${pod.name}…`, cancellable: true },
        async (_p, token) => {
          const before = new Set((await listListeningSockets((t, so) => agent.openStream(t, so))).map((s) => s.port));
          const port = before.has(6006) ? 0 : 6006;
          const tb = probe.out === 'module' ? ['python3', '-m', 'tensorboard.main'] : [probe.out];
          const started = await run(agent, [
            'sh',
            '-c',
            `setsid -f ${quoteArgv([...tb, '--logdir', logdir, '--host', '127.0.0.1', '--port', String(port)])} >/tmp/kgpu-tensorboard.log 2>&1 </dev/null`,
          ]);
          if (started.code !== 0) throw new Error('TensorBoard could not be started in the pod (see /tmp/kgpu-tensorboard.log there).');
          const deadline = Date.now() + 90_000;
          for (;;) {
            if (token.isCancellationRequested) return undefined;
            const now = await listListeningSockets((t, so) => agent.openStream(t, so));
            const found = now.find((s) => (port ? s.port === port : !before.has(s.port) && /tensorboard/.test(s.name ?? '')));
            if (found) {
              const node = await forwardedPortsFor(services).forward(pod.pod_id, found.port, { label: 'tensorboard' });
              await vscode.commands.executeCommand('kgpu.openForwardedPort', node);
              return node.localPort;
            }
            if (Date.now() > deadline)
              throw new Error('TensorBoard did not start listening within 90 s (see /tmp/kgpu-tensorboard.log in the pod).');
            await new Promise((r) => setTimeout(r, 1000));
          }
        },
      );
    } catch (e) {
      services.showError(e, { prefix: 'Could not open TensorBoard:' });
      return undefined;
    }
  });
}

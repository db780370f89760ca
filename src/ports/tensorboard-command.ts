import * as vscode from 'vscode';
import { findTensorBoard, startTensorBoard } from '../kgpu/ports';
import type { KgpuServices } from '../platform/services';
import { forwardedPortsFor } from './forwarded-ports';

/**
 * `kgpu: Open TensorBoard…`: when the pod has TensorBoard (on PATH, in /workspace/.venv, or as a
 * Python module), start `tensorboard --logdir <dir> --host 127.0.0.1` detached in the pod (it
 * outlives the agent), wait until it listens, forward its port and open it. When the image has
 * no TensorBoard, say so and how to install it — nothing is started.
 * Argument (tests): `{ podId, logdir? }`. Resolves 'missing', the forward's local port, or undefined.
 */
export function registerTensorBoardCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.openTensorBoard', async (arg?: unknown) => {
    const pod = await services.pickPod(arg, { ready: true, title: vscode.l10n.t('kgpu: open TensorBoard on which pod?') });
    if (!pod) return undefined;
    const o = arg && typeof arg === 'object' ? (arg as { logdir?: unknown }) : {};
    const agent = services.connections.session(pod.pod_id).agent;
    const openStream = agent.openStream.bind(agent);
    try {
      const tensorboard = await findTensorBoard(openStream);
      if (!tensorboard) {
        void vscode.window.showWarningMessage(
          vscode.l10n.t(
            'kgpu: TensorBoard is not installed in {0}\'s image. Install it in the pod ({1}), then run "kgpu: Open TensorBoard…" again — or forward a port of your own server with "kgpu: Forward Port…".',
            pod.name,
            'python3 -m venv --system-site-packages /workspace/.venv && /workspace/.venv/bin/pip install tensorboard',
          ),
        );
        return 'missing';
      }
      const logdir =
        typeof o.logdir === 'string'
          ? o.logdir
          : await vscode.window.showInputBox({
              title: vscode.l10n.t('kgpu: TensorBoard log directory in the pod'),
              value: '/workspace/runs',
              prompt: vscode.l10n.t('The --logdir of TensorBoard (a path in the pod)'),
            });
      if (!logdir) return undefined;
      return await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('kgpu: starting TensorBoard in {0}…', pod.name),
          cancellable: true,
        },
        async (_p, token) => {
          const cancel = new AbortController();
          const sub = token.onCancellationRequested(() => cancel.abort());
          try {
            const port = await startTensorBoard(openStream, tensorboard, logdir, { signal: cancel.signal });
            if (port === undefined) return undefined;
            const node = await forwardedPortsFor(services).forward(pod.pod_id, port, { label: 'tensorboard' }); // l10n-ignore: the program's name
            await vscode.commands.executeCommand('kgpu.openForwardedPort', node);
            return node.localPort;
          } finally {
            sub.dispose();
          }
        },
      );
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not open TensorBoard:') });
      return undefined;
    }
  });
}

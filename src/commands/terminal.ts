import * as vscode from 'vscode';
import { describeEndReason } from '../kgpu/model/end-reason';
import { isLivePod } from '../kgpu/api/api-types';
import { PodShell } from '../kgpu/ssh/pod-shell';
import type { KgpuServices } from '../platform/services';

/**
 * `kgpu: Open Terminal` on a ready pod: a Pseudoterminal over an ssh2 shell channel with a PTY
 * (src/kgpu/ssh/pod-shell.ts) — one bastion connection per terminal, resized with the panel, closed
 * with the shell's exit status. A dropped connection is said in the terminal (Enter reconnects);
 * the pod's end is said with its reason. Argument: a pod id, rental row or `{podId}`. Resolves
 * with the terminal's name.
 */
export function registerTerminal(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.openTerminal', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt(); // the user asked: a cancelled passphrase may be asked for again
    const pod = await services.pickPod(arg, { ready: true, title: vscode.l10n.t('Open a terminal on which pod?') });
    if (!pod) return undefined;
    const podId = pod.pod_id;
    const label = `${pod.name} (${podId})`;
    const endedBecause = (): string | undefined => {
      const p = services.pods.get(podId);
      return p && !isLivePod(p) ? describeEndReason(p.end_reason).label : undefined;
    };
    let shell: PodShell | undefined;
    const writeEmitter = new vscode.EventEmitter<string>();
    const closeEmitter = new vscode.EventEmitter<number | void>();
    const subscriptions: vscode.Disposable[] = [writeEmitter, closeEmitter];
    const pty: vscode.Pseudoterminal = {
      onDidWrite: writeEmitter.event,
      onDidClose: closeEmitter.event,
      open: (dims) => {
        shell = new PodShell({
          connector: () => services.connections.get(podId),
          podLabel: label,
          endedBecause: async () => {
            const now = endedBecause();
            if (now) return now;
            // A drop may be the pod ending: ask the server before offering to reconnect.
            await services.pods.refresh().catch(() => undefined);
            return endedBecause();
          },
          cols: dims?.columns,
          rows: dims?.rows,
        });
        shell.onOutput((t) => writeEmitter.fire(t));
        shell.onExit((code) => {
          // The shell ended by itself: close the terminal as a local one would (VS Code does not
          // call close() then, so let go of everything here).
          closeEmitter.fire(code ?? undefined);
          shell?.close();
          for (const d of subscriptions) d.dispose();
        });
        subscriptions.push(
          services.connections.onDidReset((e) => {
            if (e.podId === podId && e.reason === 'ended') shell?.podEnded(endedBecause() ?? 'released');
          }),
        );
        void shell.start();
      },
      close: () => {
        shell?.close();
        for (const d of subscriptions) d.dispose();
      },
      handleInput: (data) => shell?.input(data),
      setDimensions: (d) => shell?.resize(d.columns, d.rows),
    };
    const terminal = vscode.window.createTerminal({ name: `kgpu: ${pod.name}`, pty, iconPath: new vscode.ThemeIcon('vm-connect') });
    terminal.show();
    return terminal.name;
  });
}

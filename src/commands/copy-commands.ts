import * as vscode from 'vscode';
import { sshCommand } from '../kgpu/ssh/ssh-command';
import { errorMessage } from '../kgpu/api/error-dedup';
import type { KgpuServices } from '../platform/services';

/**
 * `kgpu: Copy Pod ID` and `kgpu: Copy SSH Command` (`ssh -p PORT kgpu@HOST`, with `-i <key>` so
 * ssh offers the key pinned to this pod). A minted key lives in SecretStorage; only for this
 * command is it written to a 0600 file in a private temp folder, deleted when the pod ends, its
 * key is rotated, or VS Code closes. Both resolve with the copied text (tests, e2e).
 */
export function registerCopyCommands(services: KgpuServices): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('kgpu.copyPodId', async (arg?: unknown) => {
      const pod = await services.pickPod(arg, { title: vscode.l10n.t('kgpu: copy the id of which pod?') });
      if (!pod) return undefined;
      await vscode.env.clipboard.writeText(pod.pod_id);
      void vscode.window.setStatusBarMessage(vscode.l10n.t('kgpu: copied {0}', pod.pod_id), 3000);
      return pod.pod_id;
    }),
    vscode.commands.registerCommand('kgpu.copySshCommand', async (arg?: unknown) => {
      const pod = await services.pickPod(arg, { live: true, title: vscode.l10n.t('kgpu: SSH command for which pod?') });
      if (!pod) return undefined;
      const s = services.settings.get();
      let identityFile: string | undefined;
      let note = '';
      try {
        if (await services.podKeys.hasMintedKey(pod.pod_id)) {
          identityFile = await services.podKeys.writeTempKeyFile(pod.pod_id);
          note = vscode.l10n.t(
            ' Its minted key was written to {0} (readable only by you), deleted when the pod ends, its key is rotated or VS Code closes.',
            identityFile,
          );
        } else if (s.sshIdentityFile) {
          identityFile = s.sshIdentityFile;
        } else {
          note = vscode.l10n.t(
            ' No key for this pod is stored here: run "kgpu: Rotate SSH Key" first, or add -i with the key you rented it with.',
          );
        }
      } catch (e) {
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', errorMessage(e)));
        return undefined;
      }
      const cmd = sshCommand({ host: s.sshHost, port: s.sshPort, identityFile });
      await vscode.env.clipboard.writeText(cmd);
      // Each sentence is translated whole; the message is the copied command, then those sentences.
      const notReady = pod.ready ? '' : vscode.l10n.t(' The pod is not ready yet.');
      void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: copied `{0}`.{1}{2}', cmd, note, notReady));
      return cmd;
    }),
  );
}

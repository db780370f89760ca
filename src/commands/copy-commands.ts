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
      const pod = await services.pickPod(arg, { title: 'kgpu: copy the id of which pod?' });
      if (!pod) return undefined;
      await vscode.env.clipboard.writeText(pod.pod_id);
      void vscode.window.setStatusBarMessage(`kgpu: copied ${pod.pod_id}`, 3000);
      return pod.pod_id;
    }),
    vscode.commands.registerCommand('kgpu.copySshCommand', async (arg?: unknown) => {
      const pod = await services.pickPod(arg, { live: true, title: 'kgpu: SSH command for which pod?' });
      if (!pod) return undefined;
      const s = services.settings.get();
      let identityFile: string | undefined;
      let note = '';
      try {
        if (await services.podKeys.hasMintedKey(pod.pod_id)) {
          identityFile = await services.podKeys.writeTempKeyFile(pod.pod_id);
          note = ` Its minted key was written to ${identityFile} (readable only by you), deleted when the pod ends, its key is rotated or VS Code closes.`;
        } else if (s.sshIdentityFile) {
          identityFile = s.sshIdentityFile;
        } else {
          note = ' No key for this pod is stored here: run "kgpu: Rotate SSH Key" first, or add -i with the key you rented it with.';
        }
      } catch (e) {
        void vscode.window.showErrorMessage(`kgpu: ${errorMessage(e)}`);
        return undefined;
      }
      const cmd = sshCommand({ host: s.sshHost, port: s.sshPort, identityFile });
      await vscode.env.clipboard.writeText(cmd);
      void vscode.window.showInformationMessage(`kgpu: copied \`${cmd}\`.${note}${pod.ready ? '' : ' The pod is not ready yet.'}`);
      return cmd;
    }),
  );
}

import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';

/**
 * `kgpu: Rotate SSH Key` (PATCH /pods/{id}): pins the kgpu.sshIdentityFile public key when set,
 * else has the server mint a fresh pair whose private half replaces the old one in SecretStorage.
 * The old key dies at once on the bastion; the connection router drops the pod's connections and
 * their users reconnect with the new key. Argument: pod id / row / Uri, or { podId, yes: true }.
 */
export function registerRotateKeyCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.rotateSshKey', async (arg?: unknown) => {
    const pod = await services.pickPod(arg, { live: true, title: vscode.l10n.t('kgpu: rotate the SSH key of which pod?') });
    if (!pod) return false;
    const yes = !!(arg && typeof arg === 'object' && (arg as { yes?: unknown }).yes === true);
    const label = `${pod.name} (${pod.pod_id})`;
    if (!yes) {
      const rotate = vscode.l10n.t('Rotate');
      const go = await vscode.window.showWarningMessage(
        vscode.l10n.t('Rotate the SSH key of {0}?', label),
        {
          modal: true,
          detail: vscode.l10n.t(
            'The current key stops working at once (also in ssh sessions and tools you started yourself). Open terminals and files reconnect with the new key.',
          ),
        },
        rotate,
      );
      if (go !== rotate) return false;
    }
    try {
      const identity = await services.podKeys.identityPublicKey();
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: rotating the SSH key of {0}…', label) },
        () => services.client().rotateSshKey(pod.pod_id, identity ? { ssh_pubkey: identity.publicKey } : {}),
      );
      if (res.ssh_access.private_key) await services.podKeys.storeMinted(pod.pod_id, res.ssh_access.private_key);
      else await services.podKeys.forget(pod.pod_id);
      services.connections.reset(pod.pod_id, 'key');
      services.log.info(
        `Rotated the SSH key of ${pod.pod_id}: ${res.ssh_access.fingerprint} (${identity ? `from ${identity.privateKeyPath}` : 'minted, in secret storage'}).`,
      );
      void vscode.window.showInformationMessage(
        vscode.l10n.t('kgpu: new SSH key for {0} ({1}); the old one no longer works.', label, res.ssh_access.fingerprint),
      );
      await services.pods.refresh();
      return true;
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not rotate the SSH key of {0}:', label) });
      return false;
    }
  });
}

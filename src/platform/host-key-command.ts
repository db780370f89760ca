import * as vscode from 'vscode';
import { errorMessage } from '../kgpu/api/error-dedup';
import { HostKeyChangedError } from '../kgpu/ssh/ssh-errors';
import { probeHostKey } from './lazy/ssh';
import type { KgpuServices } from './services';
import { decodeCommandArgs, optionsOf } from './command-args';

/**
 * `kgpu: Forget Bastion Host Key…` — the way back after the bastion's host key changed (kgpu
 * reinstalled it): shows the pinned fingerprint and the one the bastion presents now (read without
 * authenticating), asks, and pins the new one — exactly the key the user saw, never whatever
 * comes next. Every pod's connections are rebuilt. Arguments (tests): `{ hostPort?, yes? }`;
 * resolves with the fingerprint now pinned, or undefined.
 */
export interface ForgetHostKeyArgs {
  /** "host:port" (default: kgpu.sshHost:kgpu.sshPort). */
  hostPort?: string;
  /** Skip the confirmation. */
  yes?: boolean;
}

/** The button that offers kgpu.forgetHostKey (compared with the same translated text). */
export const forgetHostKeyButton = (): string => vscode.l10n.t('Forget Bastion Host Key…');

export function registerHostKeyCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.forgetHostKey', async (arg?: unknown) => {
    const o = optionsOf(decodeCommandArgs(arg)) as ForgetHostKeyArgs;
    const s = services.settings.get();
    const hostPort = o.hostPort ?? `${s.sshHost}:${s.sshPort}`;
    const colon = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(hostPort.slice(colon + 1));
    const store = services.hostKeys;
    const pinned = await store.get(hostPort);
    if (!pinned) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t("kgpu: no host key is pinned for {0}; kgpu pins the bastion's key on the next connection.", hostPort),
      );
      return undefined;
    }
    let now: string;
    try {
      now = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: reading the host key of {0}…', hostPort) },
        () => probeHostKey(host, port),
      );
    } catch (e) {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('kgpu: cannot read the current host key of {0} — {1} Nothing was changed.', hostPort, errorMessage(e)),
      );
      return undefined;
    }
    if (now === pinned) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t('kgpu: the bastion {0} presents the pinned key ({1}); nothing to forget.', hostPort, pinned),
      );
      return pinned;
    }
    if (!o.yes) {
      const trust = vscode.l10n.t('Trust the New Key');
      const go = await vscode.window.showWarningMessage(
        vscode.l10n.t('Forget the pinned host key of {0} and trust the key it presents now?', hostPort),
        {
          modal: true,
          detail: vscode.l10n.t(
            'Pinned: {0}\nNow presented: {1}\n\nOnly do this if kgpu announced a new bastion key and its fingerprint is the one above. Otherwise someone may be intercepting the connection (man-in-the-middle): do not continue.',
            pinned,
            now,
          ),
        },
        trust,
      );
      if (go !== trust) return undefined;
    }
    await store.set(hostPort, now);
    services.log.warn(`Host key of ${hostPort} replaced by the user: was ${pinned}, now ${now}.`);
    for (const pod of services.pods.livePods) services.connections.reset(pod.pod_id, 'settings');
    void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: {0} is now pinned to {1}.', hostPort, now));
    return now;
  });
}

/** The HostKeyChangedError in an error or its causes, if any. */
export function hostKeyChanged(e: unknown): HostKeyChangedError | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof HostKeyChangedError) return c;
  }
  return undefined;
}

import * as vscode from 'vscode';
import { errorMessage } from '../kgpu/api/error-dedup';
import { HostKeyChangedError } from '../kgpu/ssh/ssh-errors';
import { probeHostKey } from './lazy/ssh';
import type { KgpuServices } from './services';

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

export const FORGET_HOST_KEY = 'Forget Bastion Host Key…';

export function registerHostKeyCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.forgetHostKey', async (arg?: unknown) => {
    const o = (arg && typeof arg === 'object' ? arg : {}) as ForgetHostKeyArgs;
    const s = services.settings.get();
    const hostPort = o.hostPort ?? `${s.sshHost}:${s.sshPort}`;
    const colon = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(hostPort.slice(colon + 1));
    const store = services.hostKeys;
    const pinned = await store.get(hostPort);
    if (!pinned) {
      void vscode.window.showInformationMessage(
        `kgpu: no host key is pinned for ${hostPort}; kgpu pins the bastion's key on the next connection.`,
      );
      return undefined;
    }
    let now: string;
    try {
      now = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `kgpu: reading the host key of ${hostPort}…` },
        () => probeHostKey(host, port),
      );
    } catch (e) {
      void vscode.window.showErrorMessage(
        `kgpu: cannot read the current host key of ${hostPort} — ${errorMessage(e)} Nothing was changed.`,
      );
      return undefined;
    }
    if (now === pinned) {
      void vscode.window.showInformationMessage(`kgpu: the bastion ${hostPort} presents the pinned key (${pinned}); nothing to forget.`);
      return pinned;
    }
    if (!o.yes) {
      const go = await vscode.window.showWarningMessage(
        `Forget the pinned host key of ${hostPort} and trust the key it presents now?`,
        {
          modal: true,
          detail:
            `Pinned: ${pinned}\nNow presented: ${now}\n\n` +
            'Only do this if kgpu announced a new bastion key and its fingerprint is the one above. Otherwise someone may be intercepting the connection (man-in-the-middle): do not continue.',
        },
        'Trust the New Key',
      );
      if (go !== 'Trust the New Key') return undefined;
    }
    await store.set(hostPort, now);
    services.log.warn(`Host key of ${hostPort} replaced by the user: was ${pinned}, now ${now}.`);
    for (const pod of services.pods.livePods) services.connections.reset(pod.pod_id, 'settings');
    void vscode.window.showInformationMessage(`kgpu: ${hostPort} is now pinned to ${now}.`);
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

import * as vscode from 'vscode';
import { isLivePod } from '../kgpu/api/api-types';
import type { KgpuServices } from './services';

/** Keeps the manifest's `when` context keys in step with the account and the rentals model:
 *  kgpu.signedIn, kgpu.hasPods, kgpu.hasLivePod, kgpu.hasReadyPod, kgpu.hasEndedPods.
 *  (kgpu.hasJobs / kgpu.hasRunningJob belong to the jobs feature.) */
export function registerContextKeys(services: KgpuServices): vscode.Disposable {
  const last = new Map<string, boolean>();
  const set = (key: string, value: boolean): void => {
    if (last.get(key) === value) return;
    last.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  };
  const update = (): void => {
    const signedIn = services.auth.signedIn;
    const pods = signedIn ? services.pods.pods : [];
    set('kgpu.signedIn', signedIn);
    set('kgpu.hasPods', pods.length > 0);
    set('kgpu.hasLivePod', pods.some(isLivePod));
    set(
      'kgpu.hasReadyPod',
      pods.some((p) => isLivePod(p) && p.ready),
    );
    set(
      'kgpu.hasEndedPods',
      pods.some((p) => !isLivePod(p)),
    );
  };
  update();
  return vscode.Disposable.from(services.auth.onDidChange(update), services.pods.onDidChange(update));
}

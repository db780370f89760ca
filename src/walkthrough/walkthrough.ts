import * as vscode from 'vscode';
import { simulatorReachable } from '../kgpu/walkthrough/simulator-offer';
import type { KgpuServices } from '../platform/services';

/** The "Get started with kgpu" walkthrough (contributes.walkthroughs): `kgpu: Get Started` opens it,
 *  and the `kgpu.simulatorAvailable` context key lets the welcome views and the walkthrough offer
 *  "Try the simulator" only where one is reachable (src/kgpu/walkthrough/simulator-offer.ts). */
export const WALKTHROUGH_ID = 'kgpu.kgpu#gettingStarted';

export function registerWalkthrough(services: KgpuServices): vscode.Disposable {
  const update = (): void => {
    const available = simulatorReachable({
      developmentMode: services.context.extensionMode !== vscode.ExtensionMode.Production,
      extensionPath: services.context.extensionPath,
      apiBase: services.settings.get().apiBase,
      envApiBase: process.env.KGPU_API_BASE,
    });
    void vscode.commands.executeCommand('setContext', 'kgpu.simulatorAvailable', available);
  };
  update();
  return vscode.Disposable.from(
    services.settings.onDidChangeConnection(update),
    vscode.commands.registerCommand('kgpu.getStarted', () =>
      vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false),
    ),
  );
}

import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';
import { lazyCommands } from '../platform/lazy/lazy-commands';
import { registerSweepsView } from './sweeps-view';

/** Sweeps across pods (issue 23): kgpu: Run Sweep… and the Sweeps view. Run Sweep (the grid, the
 *  fan-out, the sweep file's YAML) loads on first use: activation runs at startup (issue 24). */
export function registerSweeps(services: KgpuServices): vscode.Disposable {
  return vscode.Disposable.from(
    lazyCommands(
      services,
      ['kgpu.runSweep'],
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
      () => (require('./run-sweep-command') as typeof import('./run-sweep-command')).registerRunSweepCommand,
    ),
    registerSweepsView(services),
  );
}

import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';
import { registerRunSweepCommand } from './run-sweep-command';
import { registerSweepsView } from './sweeps-view';

/** Sweeps across pods (issue 23): kgpu: Run Sweep… and the Sweeps view. */
export function registerSweeps(services: KgpuServices): vscode.Disposable {
  return vscode.Disposable.from(registerRunSweepCommand(services), registerSweepsView(services));
}

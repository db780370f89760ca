import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';
import { KgpuDebugAdapterFactory } from './debug-adapter-factory';
import { registerDebugCommand } from './debug-command';
import { DEBUG_TYPE, KgpuDebugConfigurationProvider } from './debug-configuration';
import { PodAgents } from './pod-agents';

/** Debugging on the GPU (issue 21): the `kgpu` debug type, its inline adapter and the command. */
export function registerDebug(services: KgpuServices): vscode.Disposable {
  const agents = new PodAgents(services);
  const provider = new KgpuDebugConfigurationProvider(services);
  return vscode.Disposable.from(
    agents,
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new KgpuDebugAdapterFactory(services, agents)),
    registerDebugCommand(services),
  );
}

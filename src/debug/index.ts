import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';
import { KgpuDebugAdapterFactory } from './debug-adapter-factory';
import { registerAttachCommand } from './attach-command';
import { registerDebugCommand } from './debug-command';
import { DEBUG_TYPE, KgpuDebugConfigurationProvider } from './debug-configuration';
import { registerLibraryFileSystem } from './library-file-system';

/** Debugging on the GPU (issue 21): the `kgpu` debug type, its inline adapter and the command. */
export function registerDebug(services: KgpuServices): vscode.Disposable {
  const provider = new KgpuDebugConfigurationProvider(services);
  return vscode.Disposable.from(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new KgpuDebugAdapterFactory(services)),
    registerDebugCommand(services),
    registerAttachCommand(services),
    registerLibraryFileSystem(),
  );
}

import * as vscode from 'vscode';
import type { KgpuServices } from '../platform/services';
import { lazyCommands } from '../platform/lazy/lazy-commands';
import type { KgpuDebugAdapterFactory } from './debug-adapter-factory';
import { registerDebugCommand } from './debug-command';
import { DEBUG_TYPE, KgpuDebugConfigurationProvider } from './debug-configuration';
import { registerLibraryFileSystem } from './library-file-system';

/* eslint-disable @typescript-eslint/no-require-imports -- the adapter and Attach (src/kgpu/debug/
   under them) load on first use: activation runs at startup (issue 24; src/platform/lazy/). */
const adapterModule = (): typeof import('./debug-adapter-factory') =>
  require('./debug-adapter-factory') as typeof import('./debug-adapter-factory');
const attachModule = (): typeof import('./attach-command') => require('./attach-command') as typeof import('./attach-command');
/* eslint-enable @typescript-eslint/no-require-imports */

/** Debugging on the GPU (issue 21): the `kgpu` debug type, its inline adapter and the command. */
export function registerDebug(services: KgpuServices): vscode.Disposable {
  const provider = new KgpuDebugConfigurationProvider(services);
  // The adapter factory is created when the first kgpu debug session starts.
  let factory: KgpuDebugAdapterFactory | undefined;
  return vscode.Disposable.from(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, {
      createDebugAdapterDescriptor: (session) =>
        (factory ??= new (adapterModule().KgpuDebugAdapterFactory)(services)).createDebugAdapterDescriptor(session),
    }),
    registerDebugCommand(services),
    lazyCommands(services, ['kgpu.attachDebugger'], () => attachModule().registerAttachCommand),
    registerLibraryFileSystem(),
  );
}

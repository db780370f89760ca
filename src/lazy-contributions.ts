import type * as vscode from 'vscode';
import { lazyCommands, type RegisterFeature } from './platform/lazy/lazy-commands';
import type { KgpuServices } from './platform/services';

/**
 * The contributions that are only commands, loaded on first use (issue 24: activation runs at
 * startup, so it registers stubs and leaves the features' code unrun; src/platform/lazy/lazy-commands.ts).
 * Each `load` holds a `require()` of the feature's module: esbuild bundles it as a lazily initialised
 * module, so neither it nor what only it imports runs when dist/extension.js is loaded. Import
 * nothing here but types from these modules — one value import would load the feature at startup
 * (test/unit/extension/startup-modules.test.ts fails).
 */
export interface LazyFeature {
  /** Exactly the commands the feature's register function registers. */
  readonly ids: readonly string[];
  readonly load: () => RegisterFeature;
}

export const LAZY_FEATURES: readonly LazyFeature[] = [
  {
    ids: ['kgpu.signIn', 'kgpu.signOut', 'kgpu.trySimulator'],
    load: () => (require('./commands/auth-commands') as typeof import('./commands/auth-commands')).registerAuth,
  },
  { ids: ['kgpu.rent'], load: () => (require('./commands/rent-command') as typeof import('./commands/rent-command')).registerRentCommand },
  {
    ids: ['kgpu.release'],
    load: () => (require('./commands/release-command') as typeof import('./commands/release-command')).registerReleaseCommand,
  },
  {
    ids: ['kgpu.rotateSshKey'],
    load: () => (require('./commands/rotate-key-command') as typeof import('./commands/rotate-key-command')).registerRotateKeyCommand,
  },
  {
    ids: ['kgpu.copyPodId', 'kgpu.copySshCommand'],
    load: () => (require('./commands/copy-commands') as typeof import('./commands/copy-commands')).registerCopyCommands,
  },
  {
    ids: ['kgpu.upload', 'kgpu.download'],
    load: () => (require('./files/transfer-commands') as typeof import('./files/transfer-commands')).registerTransferCommands,
  },
  { ids: ['kgpu.exec'], load: () => (require('./commands/exec-command') as typeof import('./commands/exec-command')).registerExecCommand },
  { ids: ['kgpu.openTerminal'], load: () => (require('./commands/terminal') as typeof import('./commands/terminal')).registerTerminal },
  {
    ids: ['kgpu.showJobLog'],
    load: () => (require('./platform/job-log-terminal') as typeof import('./platform/job-log-terminal')).registerJobLogCommands,
  },
  { ids: ['kgpu.runActiveFile'], load: () => (require('./jobs/run-command') as typeof import('./jobs/run-command')).registerRunCommand },
  {
    ids: ['kgpu.filterLogByRank'],
    load: () => () => (require('./jobs/rank-filter-command') as typeof import('./jobs/rank-filter-command')).registerRankFilterCommand(),
  },
];

/** Registers the stubs of every lazily loaded feature. */
export function registerLazyContributions(services: KgpuServices): vscode.Disposable {
  const all = LAZY_FEATURES.map((f) => lazyCommands(services, f.ids, f.load));
  return { dispose: () => all.forEach((d) => d.dispose()) };
}

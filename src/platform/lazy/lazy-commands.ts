import * as vscode from 'vscode';
import type { KgpuServices } from '../services';

/** A feature's register function, as every contribution exports it. */
export type RegisterFeature = (services: KgpuServices) => vscode.Disposable;

/**
 * A feature whose only contributions are commands, loaded on first use (as VS Code's own extensions
 * do): `ids` are registered at once as stubs; the first call of any of them requires the feature
 * (`load`, a function holding the `require()` so that esbuild bundles the feature as a lazily
 * initialised module — its code is not run when dist/extension.js is loaded), replaces every stub
 * with the feature's own registration and runs the command with the same arguments (a command of
 * this extension host is run in place: tree elements and Uris arrive unchanged).
 *
 * `ids` must be exactly the commands `load()` registers: test/unit/extension/startup-modules.test.ts
 * loads each feature and compares.
 */
export interface LazyCommands extends vscode.Disposable {
  /** Loads and registers the feature now (a no-op once loaded or disposed): for features that also
   *  react to events, e.g. when the first live pod appears (src/live-pod-contributions.ts). */
  load(): void;
}

export function lazyCommands(services: KgpuServices, ids: readonly string[], load: () => RegisterFeature): LazyCommands {
  let feature: vscode.Disposable | undefined;
  let stubs: vscode.Disposable[] = [];
  let disposed = false;
  const registerStubs = (): void => {
    stubs = ids.map((id) =>
      vscode.commands.registerCommand(id, (...args: unknown[]) => {
        if (disposed) return undefined;
        ensureLoaded();
        return vscode.commands.executeCommand(id, ...args);
      }),
    );
  };
  const ensureLoaded = (): void => {
    if (feature) return;
    for (const s of stubs) s.dispose();
    stubs = [];
    // The feature registers the same ids, so the stubs go first; if loading fails (a broken
    // build), they come back: the next call fails the same way instead of "command not found".
    const register = (() => {
      try {
        return load();
      } catch (e) {
        registerStubs();
        throw e;
      }
    })();
    feature = register(services);
  };
  registerStubs();
  return {
    load() {
      if (!disposed) ensureLoaded();
    },
    dispose() {
      disposed = true;
      for (const s of stubs) s.dispose();
      stubs = [];
      feature?.dispose();
    },
  };
}

import Module from 'node:module';

/**
 * A permissive stand-in for the `vscode` module. Any property is a callable, constructible proxy;
 * registerCommand calls are recorded. `withFakeVscode(fn)` answers `require('vscode')` with one while
 * `fn` runs. Its only users:
 *   1. the manifest test (manifest.test.ts): activate() registers every declared command and
 *      loads no dist/vendor-*.js;
 *   2. the bench's activation harness (test/bench/activation-harness.ts): times require +
 *      activate() of the production bundle in a fresh process (a VS Code window cannot);
 *   3. the startup test (startup-modules.test.ts): which modules require + activate() run, and that
 *      a lazily loaded feature's command stub loads it.
 * Nothing else may use it: behaviour is tested against the real VS Code (test/e2e) and the simulator.
 */
export interface FakeVscode {
  module: unknown;
  registeredCommands: Set<string>;
  /** Every registerCommand call in order: the id, its handler, and whether its Disposable was disposed. */
  commandRegistrations: { id: string; handler: (...args: unknown[]) => unknown; disposed: boolean }[];
  /** A permissive ExtensionContext (secrets, globalState, storage URIs… are all proxies) with a real `subscriptions` array. */
  context: { subscriptions: { dispose(): void }[] } & Record<string, unknown>;
}

export function createFakeVscode(): FakeVscode {
  const registeredCommands = new Set<string>();
  const commandRegistrations: FakeVscode['commandRegistrations'] = [];
  const disposable = { dispose() {} };
  const make = (path: string): unknown => {
    const fn = function () {} as unknown as object;
    return new Proxy(fn, {
      has() {
        return true;
      },
      set() {
        return true;
      }, // e.g. statusBarItem.name = … (a function's own `name` is read-only)
      get(_t, prop) {
        if (prop === 'then') return undefined; // never look like a promise
        if (prop === Symbol.toPrimitive) return () => path;
        if (prop === Symbol.iterator) return function* () {};
        if (prop === 'dispose') return () => {};
        if (prop === 'event') return () => disposable;
        if (path === 'vscode.commands' && prop === 'registerCommand') {
          return (id: string, handler: (...args: unknown[]) => unknown) => {
            registeredCommands.add(id);
            const registration = { id, handler, disposed: false };
            commandRegistrations.push(registration);
            return { dispose: () => void (registration.disposed = true) };
          };
        }
        if (path === 'vscode.workspace' && prop === 'getConfiguration') {
          return () => ({ get: (_k: string, d: unknown) => d, has: () => false, inspect: () => undefined, update: async () => {} });
        }
        if (prop === 'from')
          return (...d: unknown[]) => ({
            dispose() {
              void d;
            },
          });
        return make(`${path}.${String(prop)}`);
      },
      apply() {
        return make(`${path}()`);
      },
      construct() {
        return make(`new ${path}`) as object;
      },
    });
  };
  // esbuild's CommonJS interop copies the module's own keys, so list the API's top-level names.
  const names = [
    'window',
    'commands',
    'workspace',
    'env',
    'languages',
    'extensions',
    'tasks',
    'debug',
    'scm',
    'authentication',
    'l10n',
    'tests',
    'notebooks',
    'chat',
    'lm',
    'EventEmitter',
    'Disposable',
    'TreeItem',
    'TreeItemCollapsibleState',
    'ThemeIcon',
    'ThemeColor',
    'Uri',
    'MarkdownString',
    'FileType',
    'FilePermission',
    'FileSystemError',
    'FileChangeType',
    'StatusBarAlignment',
    'ProgressLocation',
    'ConfigurationTarget',
    'QuickPickItemKind',
    'QuickInputButtons',
    'TerminalLocation',
    'ViewColumn',
    'CancellationTokenSource',
    'CancellationError',
    'Range',
    'Position',
    'Selection',
    'RelativePattern',
    'TextEdit',
    'WorkspaceEdit',
    'DataTransferItem',
    'TreeItemCheckboxState',
    'UIKind',
    'ExtensionMode',
    'LogLevel',
    'version',
  ];
  const module: Record<string, unknown> = {};
  const root = make('vscode') as Record<string, unknown>;
  for (const n of names) module[n] = root[n];
  const ctxStub = make('context') as Record<string, unknown>;
  const subscriptions: { dispose(): void }[] = [];
  const context = new Proxy({ subscriptions } as Record<string, unknown>, {
    get: (t, p) => (p in t ? t[p as string] : ctxStub[p as string]),
  }) as FakeVscode['context'];
  return { module, registeredCommands, commandRegistrations, context };
}

/**
 * Runs `fn` with `require('vscode')` answered by a fresh fake (Module._load patched for every
 * require of this process) and puts the loader back when `fn` returns, throws or its promise settles.
 * A module that was required under an earlier fake keeps that one (delete it from require.cache first).
 */
export async function withFakeVscode<T>(fn: (fake: FakeVscode) => T | Promise<T>): Promise<T> {
  const fake = createFakeVscode();
  const M = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const original = M._load;
  M._load = function (this: unknown, req: string, ...rest: unknown[]) {
    return req === 'vscode' ? fake.module : original.call(this, req, ...rest);
  };
  try {
    return await fn(fake);
  } finally {
    M._load = original;
  }
}

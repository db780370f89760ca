import * as vscode from 'vscode';
import { describeEndReason } from '../kgpu/model/end-reason';
import { isLivePod } from '../kgpu/api/api-types';
import type { WorkspaceFs, PathChange } from '../kgpu/fs/workspace-fs';
import type { KgpuServices } from '../platform/services';
import { KGPU_SCHEME, podUri } from '../platform/pod-uri';
import { registerWorkspaceCommand } from './workspace-command';

/**
 * The `kgpu:` file system: `kgpu://<pod-id>/<absolute path in the pod>`, e.g.
 * `kgpu://gpu-rent-…/workspace/train.py`. A thin adapter: the authority routes to one
 * WorkspaceFs per pod (src/kgpu/fs/workspace-fs.ts, where the logic and its tests live), whose typed
 * errors become `vscode.FileSystemError`s and whose changes become `onDidChangeFile` events.
 */
export { KGPU_SCHEME };

export { podUri };

/** src/kgpu/fs/workspace-fs.ts (with the SFTP and transfer code under it), loaded when the first
 *  kgpu:// file is read: the provider is registered at activation, which runs at startup (issue 24). */
function workspaceFs(): typeof import('../kgpu/fs/workspace-fs') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('../kgpu/fs/workspace-fs') as typeof import('../kgpu/fs/workspace-fs');
}

export class KgpuFileSystemProvider implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  private readonly pods = new Map<string, { fs: WorkspaceFs; subscriptions: { dispose(): void }[] }>();
  private readonly subscriptions: vscode.Disposable[] = [this.emitter];

  constructor(private readonly services: KgpuServices) {
    this.subscriptions.push(
      services.pods.onDidEndPod((e) => this.pods.get(e.pod.pod_id)?.fs.markEnded(describeEndReason(e.endReason).label)),
    );
  }

  /** The pod's file system (created on first use). */
  forPod(podId: string): WorkspaceFs {
    const known = this.pods.get(podId);
    if (known) return known.fs;
    const services = this.services;
    // The pod's session (its connector, SFTP and change feed); none for a pod known to have ended
    // (its files are read from what was last seen).
    const session = (() => {
      try {
        return services.connections.session(podId);
      } catch {
        return undefined;
      }
    })();
    const fs = new (workspaceFs().WorkspaceFs)({
      podId,
      connector: async () => {
        await services.ready; // a restored kgpu:// folder may be read before the stored token and keys are loaded
        return services.connections.get(podId);
      },
      sftp: async () => {
        await services.ready;
        return services.connections.session(podId).sftp();
      },
      onDidChangePaths: session?.onDidChangePaths,
      maxFileBytes: () => services.settings.get().maxEditorFileBytes,
      checkEnded: async () => {
        const pod = await services
          .client()
          .getPod(podId)
          .catch(() => services.pods.get(podId));
        if (!pod || isLivePod(pod)) return undefined;
        return describeEndReason(pod.end_reason).label;
      },
    });
    const ended = services.pods.get(podId);
    if (ended && !isLivePod(ended)) fs.markEnded(describeEndReason(ended.end_reason).label);
    const subscriptions = [
      fs.onDidChange((changes) => this.emitter.fire(changes.map((c) => toEvent(podId, c)))),
      fs.onDidEnd((reason) => services.log.warn(`Pod ${podId} ended (${reason}); its files are read-only from what was last seen.`)),
    ];
    this.pods.set(podId, { fs, subscriptions });
    return fs;
  }

  private async call<T>(uri: vscode.Uri, op: (fs: WorkspaceFs) => Promise<T>): Promise<T> {
    if (!uri.authority) throw vscode.FileSystemError.FileNotFound(uri);
    try {
      return await op(this.forPod(uri.authority));
    } catch (e) {
      throw toFileSystemError(e, uri, this.services);
    }
  }

  watch(uri: vscode.Uri, options: { readonly recursive: boolean; readonly excludes: readonly string[] }): vscode.Disposable {
    if (!uri.authority) return new vscode.Disposable(() => undefined);
    const handle = this.forPod(uri.authority).watch(uri.path, { recursive: options.recursive });
    return new vscode.Disposable(() => handle.dispose());
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const s = await this.call(uri, (fs) => fs.stat(uri.path));
    return {
      type: s.type,
      ctime: s.ctime,
      mtime: s.mtime,
      size: s.size,
      permissions: s.readonly ? vscode.FilePermission.Readonly : undefined,
    };
  }

  readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
    return this.call(uri, (fs) => fs.readDirectory(uri.path));
  }

  readFile(uri: vscode.Uri): Promise<Uint8Array> {
    return this.call(uri, (fs) => fs.readFile(uri.path));
  }

  writeFile(uri: vscode.Uri, content: Uint8Array, options: { readonly create: boolean; readonly overwrite: boolean }): Promise<void> {
    return this.call(uri, (fs) => fs.writeFile(uri.path, content, options));
  }

  createDirectory(uri: vscode.Uri): Promise<void> {
    return this.call(uri, (fs) => fs.createDirectory(uri.path));
  }

  delete(uri: vscode.Uri, options: { readonly recursive: boolean }): Promise<void> {
    return this.call(uri, (fs) => fs.delete(uri.path, options));
  }

  rename(oldUri: vscode.Uri, newUri: vscode.Uri, options: { readonly overwrite: boolean }): Promise<void> {
    if (oldUri.authority !== newUri.authority) {
      throw vscode.FileSystemError.NoPermissions(
        vscode.l10n.t(
          'Moving files between pods is not supported ({0} → {1}); download and upload instead.',
          oldUri.authority,
          newUri.authority,
        ),
      );
    }
    return this.call(oldUri, (fs) => fs.rename(oldUri.path, newUri.path, options));
  }

  copy(source: vscode.Uri, destination: vscode.Uri, options: { readonly overwrite: boolean }): Promise<void> {
    if (source.authority !== destination.authority) {
      throw vscode.FileSystemError.NoPermissions(
        vscode.l10n.t('Copying between pods is not supported ({0} → {1}).', source.authority, destination.authority),
      );
    }
    return this.call(source, (fs) => fs.copy(source.path, destination.path, options));
  }

  dispose(): void {
    for (const p of this.pods.values()) {
      for (const s of p.subscriptions) s.dispose();
      p.fs.dispose();
    }
    this.pods.clear();
    for (const d of this.subscriptions) d.dispose();
  }
}

function toEvent(podId: string, c: PathChange): vscode.FileChangeEvent {
  const type =
    c.type === 'created'
      ? vscode.FileChangeType.Created
      : c.type === 'deleted'
        ? vscode.FileChangeType.Deleted
        : vscode.FileChangeType.Changed;
  return { type, uri: podUri(podId, c.path) };
}

function toFileSystemError(e: unknown, uri: vscode.Uri, services: KgpuServices): Error {
  // Its errors come from a WorkspaceFs, so the module is loaded by then.
  if (!(e instanceof workspaceFs().WorkspaceFsError)) {
    services.log.error(`kgpu file system: ${uri.toString()}: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof Error ? e : new Error(String(e));
  }
  switch (e.kind) {
    case 'NotFound':
      return vscode.FileSystemError.FileNotFound(e.message);
    case 'Exists':
      return vscode.FileSystemError.FileExists(e.message);
    case 'IsADirectory':
      return vscode.FileSystemError.FileIsADirectory(e.message);
    case 'NotADirectory':
      return vscode.FileSystemError.FileNotADirectory(e.message);
    case 'NoPermissions':
      return vscode.FileSystemError.NoPermissions(e.message);
    case 'Unavailable':
    case 'PodEnded':
      services.log.warn(`kgpu file system: ${e.message}`);
      return vscode.FileSystemError.Unavailable(e.message);
    default:
      services.log.warn(`kgpu file system: ${e.message}`);
      return new vscode.FileSystemError(e.message);
  }
}

/** The `kgpu:` file system plus Open Workspace (Upload… and Download…, transfer-commands.ts, are
 *  loaded on first use: src/lazy-contributions.ts). */
export function registerFileSystem(services: KgpuServices): vscode.Disposable {
  const provider = new KgpuFileSystemProvider(services);
  return vscode.Disposable.from(
    provider,
    vscode.workspace.registerFileSystemProvider(KGPU_SCHEME, provider, { isCaseSensitive: true }),
    registerWorkspaceCommand(services),
  );
}

import * as vscode from 'vscode';
import { KGPU_LIBRARY_SCHEME } from '../kgpu/debug/path-map';

/**
 * `kgpu-lib://<pod>/<path>`: a read-only view of a pod's library files (the standard library,
 * site-packages, a venv), which the debugger's stack frames open (src/kgpu/debug/path-map.ts). It
 * reads through the `kgpu:` file system (the same path with the `kgpu` scheme) and refuses every
 * write, so stepping into torch never leaves an editable — and savable — copy of it open; VS Code
 * shows the editor as read-only with the reason below.
 */
export class LibraryFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;

  private static writable(uri: vscode.Uri): vscode.Uri {
    return uri.with({ scheme: 'kgpu' });
  }

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined); // library files do not change under a debug session
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const s = await vscode.workspace.fs.stat(LibraryFileSystem.writable(uri));
    return { type: s.type, ctime: s.ctime, mtime: s.mtime, size: s.size, permissions: vscode.FilePermission.Readonly };
  }

  readDirectory(uri: vscode.Uri): Thenable<[string, vscode.FileType][]> {
    return vscode.workspace.fs.readDirectory(LibraryFileSystem.writable(uri));
  }

  readFile(uri: vscode.Uri): Thenable<Uint8Array> {
    return vscode.workspace.fs.readFile(LibraryFileSystem.writable(uri));
  }

  writeFile(uri: vscode.Uri): never {
    throw refused(uri);
  }

  createDirectory(uri: vscode.Uri): never {
    throw refused(uri);
  }

  delete(uri: vscode.Uri): never {
    throw refused(uri);
  }

  rename(uri: vscode.Uri): never {
    throw refused(uri);
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

function refused(uri: vscode.Uri): vscode.FileSystemError {
  return vscode.FileSystemError.NoPermissions(
    `${uri.path} is a library file in pod ${uri.authority}, opened read-only by the debugger; open it as kgpu://${uri.authority}${uri.path} to change it.`,
  );
}

export function registerLibraryFileSystem(): vscode.Disposable {
  const provider = new LibraryFileSystem();
  return vscode.Disposable.from(
    provider,
    vscode.workspace.registerFileSystemProvider(KGPU_LIBRARY_SCHEME, provider, {
      isCaseSensitive: true,
      isReadonly: new vscode.MarkdownString(
        "A library file in the pod, opened read-only by the debugger. To change it, open it from the pod's files (kgpu://).",
      ),
    }),
  );
}

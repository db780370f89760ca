import path from 'node:path';
import * as vscode from 'vscode';
import type { Pod } from '../kgpu/api/api-types';

/** Where a notebook's kernel runs in the pod, and what to sync there first. */
export interface KernelPlace {
  /** The kernel's working directory in the pod. */
  cwd: string;
  /** The notebook's path in the pod (names the kernel: the same path finds the same kernel). */
  notebookPodPath: string;
  /** A local folder to sync to `remoteDir` first (changed files only), if any, and the notebook's
   *  path in it (POSIX; dependency files are looked for from its folder up). */
  sync?: { folder: string; remoteDir: string; notebook: string };
}

export function kernelPlace(notebook: vscode.NotebookDocument, pod: Pod): KernelPlace | string {
  const uri = notebook.uri;
  if (uri.scheme === 'kgpu') {
    if (uri.authority !== pod.pod_id) return `This notebook lives in pod ${uri.authority}; choose that pod's kgpu kernel.`;
    return { cwd: path.posix.dirname(uri.path), notebookPodPath: uri.path };
  }
  if (uri.scheme === 'file') {
    const folder = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath;
    if (folder) {
      const remoteDir = path.posix.join('/workspace', path.basename(folder));
      const rel = path.relative(folder, path.dirname(uri.fsPath)).split(path.sep).join('/');
      const cwd = rel ? path.posix.join(remoteDir, rel) : remoteDir;
      const notebook = path.relative(folder, uri.fsPath).split(path.sep).join('/');
      return { cwd, notebookPodPath: path.posix.join(cwd, path.basename(uri.fsPath)), sync: { folder, remoteDir, notebook } };
    }
  }
  // Untitled, or outside every workspace folder: nothing synced (never a whole home directory).
  return { cwd: '/workspace', notebookPodPath: `/workspace/${path.posix.basename(uri.path) || 'untitled.ipynb'}` };
}

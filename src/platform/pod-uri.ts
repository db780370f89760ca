import * as vscode from 'vscode';

/** The scheme of the `kgpu:` file system (src/files/file-system.ts): `kgpu://<pod-id>/<absolute path in the pod>`. */
export const KGPU_SCHEME = 'kgpu';

/** The `kgpu:` Uri of a path in a pod, for the file system, links and anything that opens pod files. */
export function podUri(podId: string, podPath: string): vscode.Uri {
  return vscode.Uri.from({ scheme: KGPU_SCHEME, authority: podId, path: podPath });
}

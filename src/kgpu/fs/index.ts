// fs/: the pod's /workspace as a file system — SFTP-backed remote fs, the editor-facing workspace fs with its cache and errors, the change watcher.
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/platform/lazy/).
export * from './pod-watcher';
export * from './remote-fs';
export * from './workspace-fs-cache';
export * from './workspace-fs-error';
export * from './workspace-fs';

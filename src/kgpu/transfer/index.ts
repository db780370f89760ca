// transfer/: moving files between a local folder and the pod — sync up (sync.ts, its upload round sync-upload.ts) and pull (pull.ts), bulk transfer, upload/download, ignore rules, local path guards.
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/platform/lazy/).
export * from './bulk-transfer';
export * from './ignore-rules';
export * from './local-links';
export * from './local-path-guard';
export * from './pod-download';
export * from './pod-upload';
export * from './sync-manifest';
export * from './sync';
export * from './tar-stream';
export * from './transfer-progress';

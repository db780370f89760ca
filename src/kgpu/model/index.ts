// model/: what the views show, without vscode — rentals and account state, cost and billing, rent options, end reasons, pod notices, view-models, setting policy.
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/platform/lazy/).
export * from './account-view-model';
export * from './cost';
export * from './end-reason';
export * from './gpu-models-view-model';
export * from './pod-notices';
export * from './rent-options';
export * from './rentals-model';
export * from './rentals-view-model';
export * from './setting-resolution';
export * from './status-bar-model';
export * from './tree-item-model';

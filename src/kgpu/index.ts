// Public API of the kgpu core library (never imports `vscode`). Append new exports; don't reorder.
export * from './api-types';
export * from './api-error';
export * from './api-client';
export * from './retry';
export * from './wait-ready';
export * from './cost';
export * from './end-reason';

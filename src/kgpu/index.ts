// Public API of the kgpu core library (never imports `vscode`). Append new exports; don't reorder.
export * from './api/api-types';
export * from './api/api-error';
export * from './api/api-client';
export * from './api/presigned-upload';
export * from './api/retry';
export * from './api/wait-ready';
export * from './model/cost';
export * from './model/end-reason';
export * from './util/shell-quote';
export * from './ssh/ssh-errors';
export * from './ssh/host-keys';
export * from './ssh/ssh-connection';
export * from './ssh/ssh-exec';
export * from './ssh/sftp-over-exec';
export * from './fs/remote-fs';
export { sha256File, type TransferOptions, type TransferProgress, type TransferResult } from './transfer/bulk-transfer';
export { RentCancelledError } from './api/rent';

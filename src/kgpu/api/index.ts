// api/: kgpu's REST API — the HTTP client, its errors and retries, uploads to presigned URLs, waiting for a pod, POST /exec, the contract's types.
// The folder's public face: import from here outside the folder (the editor imports single files where a
// static import would load a heavy dependency at activation — see src/platform/lazy/).
export * from './api-client';
export * from './api-error';
export * from './api-types';
export * from './bounded-body';
export * from './error-dedup';
export * from './exec-request';
export * from './network-error';
export * from './presigned-upload';
export * from './rent';
export * from './retry';
export * from './token-choice';
export * from './wait-ready';
// The API document's schemas, generated (npm run openapi:types) from openapi.json.
export type { components as ApiSchemas, paths as ApiPaths } from './openapi-types';

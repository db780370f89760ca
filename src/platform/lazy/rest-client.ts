/**
 * The REST client, loaded on first use. src/kgpu/api/api-client.ts pulls in undici (≈ 520 KB, its own
 * file dist/vendor-undici.js — see esbuild.mjs); requiring it at activation cost most of the
 * activation time. Nothing else may import api-client.ts's values (`import type` only): one
 * static import would load it, and undici, when dist/extension.js is required.
 */
import type { KgpuClient, KgpuClientOptions } from '../../kgpu/api/api-client';

type ApiClientModule = typeof import('../../kgpu/api/api-client');

let loaded: ApiClientModule | undefined;

/** A new KgpuClient; the first call loads the client module (synchronously, ≈ 20–40 ms). */
export function createKgpuClient(options: KgpuClientOptions): KgpuClient {
  // esbuild bundles this require into dist/extension.js as a lazily initialised module.
  loaded ??= require('../../kgpu/api/api-client') as ApiClientModule;
  return new loaded.KgpuClient(options);
}

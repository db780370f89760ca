/** Account and fleet endpoints: /gpu-models (public), /me, /balance, /cluster, plus the OpenAPI document. */
import type { Route } from './rest';
import type { SimState } from './state';
import { MAX_GPUS_PER_ACCOUNT, roundCredits } from './state';
import type { ObjectLimits } from './objects';
import { LIMITS } from './pod-spec';

export function accountRoutes(state: SimState, objectLimits: ObjectLimits, openapi: () => unknown): Route[] {
  return [
    { method: 'GET', pattern: /^\/v1\/gpu-models\/?$/, access: 'public', handler: () => ({ body: state.gpuModels() }) },
    {
      method: 'GET',
      pattern: /^\/v1\/me\/?$/,
      access: 'pod',
      handler: ({ principal }) => {
        const a = principal.account;
        return {
          body: {
            user_id: a.user_id,
            email: a.email,
            name: a.name,
            role: a.role,
            status: a.status,
            credits: roundCredits(a.credits),
            quota: {
              max_gpus: MAX_GPUS_PER_ACCOUNT,
              gpus_in_use: state.gpusInUse(a),
              max_cpu_per_pod: LIMITS.maxCpu,
              max_memory_gib_per_pod: LIMITS.maxMemoryBytes / 2 ** 30,
              max_ephemeral_storage_gib: LIMITS.maxDiskGib,
              object_quota_bytes: objectLimits.perUserBytes,
              object_max_bytes: objectLimits.perObjectBytes,
            },
            ...(principal.kind === 'pod' ? { token_scope: 'pod', pod_id: principal.pod.pod_id } : { token_scope: 'account' }),
          },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/balance\/?$/,
      access: 'account',
      handler: ({ principal }) => ({ body: { credits: roundCredits(principal.account.credits) } }),
    },
    { method: 'GET', pattern: /^\/v1\/cluster\/?$/, access: 'account', handler: () => ({ body: { nodes: state.cluster() } }) },
    { method: 'GET', pattern: /^(?:\/v1)?\/openapi\.json$/, access: 'public', handler: () => ({ body: openapi() }) },
    {
      method: 'GET',
      pattern: /^(?:\/v1)?\/docs\/?$/,
      access: 'public',
      handler: () => ({
        body: null,
        raw: {
          contentType: 'text/html; charset=utf-8',
          text: '<!doctype html><title>kgpu API (simulator)</title><h1>kgpu API — simulator</h1><p>The machine-readable spec is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>',
        },
      }),
    },
  ];
}

/**
 * The OpenAPI 3.1 document the simulator serves at /v1/openapi.json — it describes exactly what
 * the simulator answers (a test validates real responses against these schemas with ajv).
 */

const ts = { type: 'string', format: 'date-time' } as const;
const nullable = (schema: Record<string, unknown>): Record<string, unknown> => ({ anyOf: [schema, { type: 'null' }] });
const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown): Record<string, unknown> => ({ content: { 'application/json': { schema } } });

function ok(schema: unknown, description = 'OK'): Record<string, unknown> {
  return { description, headers: requestIdHeader, ...json(schema) };
}

const errorResponses = (...codes: number[]): Record<string, unknown> =>
  Object.fromEntries(codes.map((c) => [String(c), { description: ERROR_TEXT[c] ?? 'Error', headers: requestIdHeader, ...json(ref('Error')) }]));

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad request (malformed JSON or not an object)',
  401: 'Missing, invalid or revoked token, or account not approved',
  402: 'Insufficient credits for the first minute',
  403: 'The in-pod token may not do this',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Not ready / quota exceeded / no capacity / duplicate key',
  410: 'Object expired',
  413: 'Request body too large (over 1 MiB; exec: a stdin over 1 MiB is a 422 naming `stdin`)',
  422: 'Validation failed (`field` names the offending field)',
  500: 'Server error (`trace_id` = X-Request-ID)',
};

const requestIdHeader = {
  'X-Request-ID': { description: '8 random bytes as 16 hex characters; quote it in bug reports', schema: { type: 'string', pattern: '^[0-9a-f]{16}$' } },
};

const podPath = { name: 'pod_id', in: 'path', required: true, schema: { type: 'string' } };
const objectPath = { name: 'object_id', in: 'path', required: true, schema: { type: 'string' } };
const bearer = [{ bearer: [] }];

export function openApiDocument(serverUrl: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'kgpu API (simulator)',
      version: '1.0.0',
      description: 'GPU rentals for researchers. Every response carries X-Request-ID; error bodies are `{error, message}` (+ `trace_id` on 5xx).',
    },
    servers: [{ url: serverUrl }],
    security: bearer,
    paths: {
      '/gpu-models': {
        get: { summary: 'GPU classes available now (public)', security: [], responses: { '200': ok({ type: 'array', items: ref('GpuModel') }) } },
      },
      '/me': { get: { summary: 'The account', responses: { '200': ok(ref('Me')), ...errorResponses(401) } } },
      '/balance': { get: { summary: 'Credit balance', responses: { '200': ok(ref('Balance')), ...errorResponses(401, 403) } } },
      '/cluster': { get: { summary: 'Per-node availability', responses: { '200': ok(ref('Cluster')), ...errorResponses(401, 403) } } },
      '/pods': {
        get: { summary: 'Your pods, newest first', responses: { '200': ok({ type: 'array', items: ref('Pod') }), ...errorResponses(401, 403) } },
        post: {
          summary: 'Rent a pod',
          requestBody: { required: false, ...json(ref('RentRequest')) },
          responses: { '200': ok(ref('RentResponse')), ...errorResponses(400, 401, 402, 403, 409, 413, 422) },
        },
      },
      '/pods/{pod_id}': {
        parameters: [podPath],
        get: { summary: 'Pod state (also after it ended)', responses: { '200': ok(ref('Pod')), ...errorResponses(401, 403, 404) } },
        patch: {
          summary: 'Rotate the rental SSH key',
          requestBody: { required: false, ...json(ref('RotateKeyRequest')) },
          responses: { '200': ok(ref('RotateKeyResponse')), ...errorResponses(400, 401, 403, 404, 409, 422) },
        },
        delete: { summary: 'Release (idempotent)', responses: { '200': ok(ref('Pod')), ...errorResponses(401, 403, 404) } },
      },
      '/pods/{pod_id}/exec': {
        parameters: [podPath],
        post: {
          summary: 'One-shot command (synchronous)',
          requestBody: { required: true, ...json(ref('ExecRequest')) },
          responses: { '200': ok(ref('ExecResponse')), ...errorResponses(400, 401, 403, 404, 409, 422, 500) },
        },
      },
      '/objects': {
        get: { summary: 'Your live transit objects', responses: { '200': ok({ type: 'array', items: ref('TransitObject') }), ...errorResponses(401) } },
        post: {
          summary: 'Mint a 24 h transit object with a presigned PUT (valid 1 h)',
          requestBody: { required: false, ...json(ref('CreateObjectRequest')) },
          responses: { '200': ok(ref('CreatedObject')), ...errorResponses(400, 401, 409, 422) },
        },
      },
      '/objects/{object_id}': {
        parameters: [objectPath],
        get: { summary: 'The object with a fresh presigned GET (1 h)', responses: { '200': ok(ref('ObjectWithGetUrl')), ...errorResponses(401, 404, 410) } },
        delete: { summary: 'Delete (idempotent)', responses: { '200': ok(ref('DeletedObject')), ...errorResponses(401, 404) } },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Account token, or the per-rental in-pod token kgpu_pod_<id>.<sig>' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: { type: 'string', description: 'machine-readable code' },
            message: { type: 'string' },
            request_id: { type: 'string', pattern: '^[0-9a-f]{16}$' },
            trace_id: { type: 'string', pattern: '^[0-9a-f]{16}$' },
            field: { type: 'string' },
          },
        },
        GpuModel: {
          type: 'object',
          required: ['gpu_model', 'total', 'free', 'price_per_hour_credits'],
          additionalProperties: false,
          properties: { gpu_model: { type: 'string' }, total: { type: 'integer', minimum: 0 }, free: { type: 'integer', minimum: 0 }, price_per_hour_credits: { type: 'number' } },
        },
        Me: {
          type: 'object',
          required: ['user_id', 'email', 'name', 'role', 'status', 'credits', 'quota'],
          properties: {
            user_id: { type: 'string' },
            email: { type: 'string' },
            name: { type: 'string' },
            role: { enum: ['user', 'maintainer'] },
            status: { enum: ['approved', 'pending', 'suspended'] },
            credits: { type: 'number' },
            quota: {
              type: 'object',
              required: ['max_gpus'],
              properties: {
                max_gpus: { type: 'integer' },
                gpus_in_use: { type: 'integer' },
                max_cpu_per_pod: { type: 'number' },
                max_memory_gib_per_pod: { type: 'number' },
                max_ephemeral_storage_gib: { type: 'integer' },
                object_quota_bytes: { type: 'number' },
                object_max_bytes: { type: 'number' },
              },
            },
            token_scope: { enum: ['account', 'pod'] },
            pod_id: { type: 'string' },
          },
        },
        Balance: { type: 'object', required: ['credits'], additionalProperties: false, properties: { credits: { type: 'number' } } },
        Cluster: {
          type: 'object',
          required: ['nodes'],
          properties: {
            nodes: {
              type: 'array',
              items: {
                type: 'object',
                required: ['hostname', 'gpu_model', 'total', 'busy', 'free'],
                properties: {
                  hostname: { type: 'string' },
                  gpu_model: { type: 'string' },
                  total: { type: 'integer' },
                  busy: { type: 'integer' },
                  free: { type: 'integer' },
                  pods: { type: 'integer' },
                },
              },
            },
          },
        },
        RentRequest: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 30, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', default: 'rent' },
            image: { type: 'string', default: 'kgpu-pytorch:latest' },
            gpu_model: { type: 'string', default: 'rtx4090' },
            gpu_count: { type: 'integer', minimum: 0, maximum: 4, default: 1 },
            cpu: { type: ['string', 'number'], default: '2', description: 'cores, ≤ 16' },
            memory: { type: 'string', default: '16Gi', description: '≤ 128Gi' },
            ephemeral_storage_gib: { type: 'integer', minimum: 1, maximum: 2000, default: 100 },
            env: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
            ssh_pubkey: nullable({ type: 'string', description: 'one-line OpenSSH public key' }),
          },
        },
        SshAccess: {
          type: 'object',
          required: ['fingerprint', 'ssh_host', 'ssh_port', 'ssh_user'],
          additionalProperties: false,
          properties: {
            private_key: { type: 'string', pattern: '^-----BEGIN OPENSSH PRIVATE KEY-----', description: 'only when minted; returned once' },
            fingerprint: { type: 'string', pattern: '^SHA256:[A-Za-z0-9+/]{43}$' },
            ssh_host: { type: 'string' },
            ssh_port: { type: 'integer' },
            ssh_user: { const: 'kgpu' },
          },
        },
        RentResponse: {
          type: 'object',
          required: ['pod_id', 'gpu_model', 'price_per_hour_credits', 'balance_after_precheck', 'ssh_access'],
          properties: {
            pod_id: { type: 'string', pattern: '^gpu-[a-z0-9-]+-[0-9]+-[0-9a-f]{6}$' },
            gpu_model: { type: 'string' },
            gpu_count: { type: 'integer' },
            price_per_hour_credits: { type: 'number' },
            balance_after_precheck: { type: 'number' },
            phase: ref('Phase'),
            ssh_access: ref('SshAccess'),
          },
        },
        Phase: { enum: ['Pending', 'Running', 'Terminating', 'Ended', 'Failed'] },
        Pod: {
          type: 'object',
          required: [
            'pod_id', 'name', 'image', 'gpu_model', 'gpu_count', 'cpu', 'memory', 'ephemeral_storage_gib', 'phase', 'ready',
            'pending_reason', 'created_at', 'ended_at', 'end_reason', 'last_activity_at', 'idle_seconds', 'idle_warning',
            'price_per_hour_credits', 'credits_spent', 'ssh_fingerprint',
          ],
          properties: {
            pod_id: { type: 'string' },
            name: { type: 'string' },
            image: { type: 'string' },
            gpu_model: { type: 'string' },
            gpu_count: { type: 'integer', minimum: 0, maximum: 4 },
            cpu: { type: 'string' },
            memory: { type: 'string' },
            ephemeral_storage_gib: { type: 'integer' },
            phase: ref('Phase'),
            ready: { type: 'boolean' },
            pending_reason: nullable({ type: 'string' }),
            created_at: ts,
            ready_at: nullable(ts),
            ended_at: nullable(ts),
            end_reason: nullable({ type: 'string', pattern: '^(returned|auto_idle|out_of_credits|evicted_by_kubelet:OutOfephemeral-storage|evicted_by_kubelet:OOMKilled|start_failed:.+)$' }),
            last_activity_at: nullable(ts),
            idle_seconds: nullable({ type: 'integer', minimum: 0 }),
            idle_warning: { type: 'boolean' },
            price_per_hour_credits: { type: 'number' },
            price_per_gpu_hour_credits: { type: 'number' },
            credits_spent: { type: 'number' },
            refunded_credits: { type: 'number' },
            ssh_fingerprint: nullable({ type: 'string' }),
            ssh_host: { type: 'string' },
            ssh_port: { type: 'integer' },
            ssh_user: { const: 'kgpu' },
            node: nullable({ type: 'string' }),
          },
        },
        RotateKeyRequest: { type: 'object', properties: { ssh_pubkey: nullable({ type: 'string' }) } },
        RotateKeyResponse: { type: 'object', required: ['pod_id', 'ssh_access'], properties: { pod_id: { type: 'string' }, ssh_access: ref('SshAccess') } },
        ExecRequest: {
          type: 'object',
          required: ['cmd'],
          properties: {
            cmd: { type: 'array', minItems: 1, items: { type: 'string' } },
            stdin: nullable({ type: 'string', description: '≤ 1 MiB (more: 422 validation_failed naming stdin)' }),
            timeout_seconds: { type: 'integer', minimum: 1, maximum: 300, default: 60 },
          },
        },
        ExecResponse: {
          type: 'object',
          required: ['exit_code', 'stdout', 'stderr', 'duration_ms', 'truncated'],
          additionalProperties: false,
          properties: { exit_code: { type: 'integer' }, stdout: { type: 'string' }, stderr: { type: 'string' }, duration_ms: { type: 'number', minimum: 0 }, truncated: { type: 'boolean' } },
        },
        CreateObjectRequest: { type: 'object', properties: { label: nullable({ type: 'string', maxLength: 200 }), size_bytes: { type: 'integer', minimum: 0 } } },
        TransitObject: {
          type: 'object',
          required: ['object_id', 'label', 'size_bytes', 'uploaded', 'created_at', 'expires_at'],
          properties: {
            object_id: { type: 'string' },
            label: nullable({ type: 'string' }),
            size_bytes: nullable({ type: 'integer', minimum: 0 }),
            uploaded: { type: 'boolean' },
            created_at: ts,
            expires_at: ts,
          },
        },
        CreatedObject: {
          allOf: [ref('TransitObject')],
          type: 'object',
          required: ['put_url', 'put_url_expires_at', 'max_bytes'],
          properties: { put_url: { type: 'string', format: 'uri' }, put_url_expires_at: ts, max_bytes: { type: 'number' } },
        },
        ObjectWithGetUrl: {
          allOf: [ref('TransitObject')],
          type: 'object',
          required: ['get_url', 'get_url_expires_at'],
          properties: { get_url: { type: 'string', format: 'uri' }, get_url_expires_at: ts },
        },
        DeletedObject: { type: 'object', required: ['object_id', 'deleted'], properties: { object_id: { type: 'string' }, deleted: { const: true } } },
      },
    },
  };
}

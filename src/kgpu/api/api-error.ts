/**
 * Errors of the kgpu REST client. Every message says what happened and what to do next, quotes
 * the request id (X-Request-ID) or trace id, and never contains a token or a presigned URL.
 *
 * - KgpuApiError      — kgpu answered with an HTTP error (status + kgpu `error` code).
 * - KgpuNetworkError  — no usable answer: unreachable, connection lost, timed out.
 * - KgpuAbortedError  — the caller's AbortSignal fired (name "AbortError").
 */
import { CancelledError } from '../util/cancelled';
import { KgpuError } from '../util/kgpu-error';
import type { ErrorBody } from './api-types';
import { groupDigits } from '../util/format-number';

/** What the client knew about the call, to build a message the user can act on. */
export interface ErrorContext {
  /** For POST /pods: what was being rented. */
  rent?: { gpu_model: string; gpu_count: number };
  /** Pod or object the call was about. */
  podId?: string;
  objectId?: string;
  /** Filled in best-effort after a 402 / 409 when the error body does not say. */
  balance?: number;
  neededPerHour?: number;
  gpusInUse?: number;
  gpuQuota?: number;
  /** The server's Retry-After, when it sent one. */
  retryAfterMs?: number;
}

/** Replace anything that looks like a kgpu token with a placeholder. */
export function redactTokens(text: string): string {
  return text.replace(/kgpu_[A-Za-z0-9_.-]+/g, 'kgpu_…').replace(/Bearer\s+\S+/gi, 'Bearer …');
}

function redactBody(body: ErrorBody): ErrorBody {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) out[k] = typeof v === 'string' ? redactTokens(v) : v;
  return out as ErrorBody;
}

function numberField(body: ErrorBody | undefined, ...keys: string[]): number | undefined {
  if (!body) return undefined;
  for (const k of keys) {
    const v = body[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function stringField(body: ErrorBody | undefined, ...keys: string[]): string | undefined {
  if (!body) return undefined;
  for (const k of keys) {
    const v = body[k];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

export class KgpuApiError extends KgpuError {
  /** The kgpu machine-readable `error` code; every 401 is `unauthorized` (the server's own code is in `serverCode`). */
  readonly code: string;
  /** The `error` field exactly as the server sent it (e.g. `token_expired` on a 401). */
  readonly serverCode: string | undefined;
  /** The server's own human message (token-redacted). */
  readonly serverMessage: string;
  /** What to show the user: what happened, what to do, and the request/trace id. */
  readonly userMessage: string;
  readonly traceId: string | undefined;
  /** For 422: the field the server named. */
  readonly field: string | undefined;
  /** The error body, with anything token-like in its strings redacted. */
  readonly body: ErrorBody | undefined;

  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    override readonly requestId: string | undefined,
    rawBody: ErrorBody | undefined,
    readonly context: ErrorContext = {},
  ) {
    const body = rawBody && redactBody(rawBody);
    const code = status === 401 ? 'unauthorized' : (body?.error ?? `http_${status}`);
    const serverMessage = redactTokens(body?.message ?? '');
    const traceId = body?.trace_id;
    const field = stringField(body, 'field', 'param', 'loc') ?? fieldFromMessage(serverMessage);
    const userMessage = buildUserMessage({ status, code, serverMessage, requestId, traceId, field, method, path, body, context });
    super('api', code, userMessage, { requestId });
    this.name = 'KgpuApiError';
    this.code = code;
    this.serverCode = body?.error;
    this.serverMessage = serverMessage;
    this.userMessage = userMessage;
    this.traceId = traceId;
    this.field = field;
    this.body = body;
  }

  /** The token was rejected (invalid, revoked, or the account is not approved): sign in again. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }

  override toString(): string {
    return this.userMessage;
  }
}

/** A 422 message like "gpu_count must be 0–4" or "invalid field 'memory'": find the field name. */
function fieldFromMessage(message: string): string | undefined {
  const known = [
    'name',
    'image',
    'gpu_model',
    'gpu_count',
    'cpu',
    'memory',
    'ephemeral_storage_gib',
    'env',
    'ssh_pubkey',
    'cmd',
    'stdin',
    'timeout_seconds',
    'label',
  ];
  for (const f of known) if (new RegExp(`(^|[^a-z_])${f}([^a-z_]|$)`).test(message)) return f;
  return undefined;
}

interface MessageParts {
  status: number;
  code: string;
  serverMessage: string;
  requestId: string | undefined;
  traceId: string | undefined;
  field: string | undefined;
  method: string;
  path: string;
  body: ErrorBody | undefined;
  context: ErrorContext;
}

function rentWhat(ctx: ErrorContext): string {
  return ctx.rent ? `${ctx.rent.gpu_count}× ${ctx.rent.gpu_model}` : 'a GPU';
}

function buildUserMessage(p: MessageParts): string {
  const ref = p.requestId ? ` (request ${p.requestId})` : '';
  const server = p.serverMessage ? `: ${p.serverMessage}` : '';
  const ctx = p.context;
  // Our own verdict on an answer we could not use (not JSON, too large): say that, not "server error".
  if (p.code === 'bad_response' && p.serverMessage)
    return `${p.serverMessage} (${p.method} ${p.path}${p.requestId ? `, request ${p.requestId}` : ''}).`;
  switch (p.status) {
    case 400:
      return `kgpu rejected the request ${p.method} ${p.path} as malformed${server}${ref}.`;
    case 401:
      if (!p.requestId && p.serverMessage === 'not signed in') return 'You are not signed in to kgpu — sign in with your account token.';
      return `kgpu did not accept your token (invalid, reissued, or the account is not approved yet) — sign in again with a current token${ref}.`;
    case 402: {
      const balance = numberField(p.body, 'balance', 'credits', 'balance_credits') ?? ctx.balance;
      const needed = numberField(p.body, 'needed_per_hour', 'price_per_hour_credits', 'needed', 'required') ?? ctx.neededPerHour;
      const parts: string[] = [];
      if (balance !== undefined) parts.push(`balance ${groupDigits(balance)}`);
      if (needed !== undefined) parts.push(`needed ${groupDigits(needed)} per hour`);
      const detail = parts.length ? `: ${parts.join(', ')}` : '';
      return `Not enough credits to rent ${rentWhat(ctx)}${detail}${ref}. Top up your credits or rent a cheaper GPU.`;
    }
    case 403:
      return `This token may not ${p.method} ${p.path}${server} — in-pod tokens can only read /me, their own pod and /objects; use your account token${ref}.`;
    case 404:
      if (ctx.podId) return `Pod ${ctx.podId} was not found on kgpu (wrong id, or another account's pod)${ref}.`;
      if (ctx.objectId) return `Transit object ${ctx.objectId} was not found (already deleted?)${ref}.`;
      return `kgpu has no ${p.path}${server}${ref}.`;
    case 409:
      return conflictMessage(p, ref);
    case 410:
      return `Transit object ${ctx.objectId ?? ''} has expired (objects live 24 h after creation); upload it again${ref}.`.replace(
        'object  has',
        'object has',
      );
    case 422: {
      const what = p.field ? `Invalid ${p.field}` : 'kgpu rejected a value in the request';
      return `${what}${server}${ref}. Fix it and try again.`;
    }
    case 429: {
      const when = ctx.retryAfterMs !== undefined ? `in ${formatWait(ctx.retryAfterMs)}` : 'in a little while';
      return `kgpu is rate-limiting requests${server}; try again ${when}${ref}.`;
    }
    default:
      break;
  }
  if (p.status >= 500) {
    const id = p.traceId ?? p.requestId;
    return `kgpu had a server error (${p.status}${id ? `, trace ${id}` : ''}) on ${p.method} ${p.path}; try again — quote the trace id if it persists.`;
  }
  return `kgpu answered ${p.status} ${p.code} to ${p.method} ${p.path}${server}${ref}.`;
}

function conflictMessage(p: MessageParts, ref: string): string {
  const ctx = p.context;
  const code = p.code;
  const server = p.serverMessage ? ` (${p.serverMessage})` : '';
  if (code === 'pod_not_ready') {
    return `Pod ${ctx.podId ?? ''} is not ready yet; wait until it is Running and ready, then try again${ref}.`.replace(
      'Pod  is',
      'The pod is',
    );
  }
  if (/quota|gpu_cap|limit/i.test(code)) {
    const inUse = numberField(p.body, 'gpus_in_use', 'in_use', 'used') ?? ctx.gpusInUse;
    const quota = numberField(p.body, 'max_gpus', 'quota', 'limit') ?? ctx.gpuQuota;
    if (inUse !== undefined && quota !== undefined) {
      return `You already use ${inUse} of your ${quota} GPUs; release one or rent fewer${ref}.`;
    }
    return `Renting ${rentWhat(ctx)} would exceed your concurrent GPU quota${server}; release one or rent fewer${ref}.`;
  }
  if (/capacity|unavailable|sold_out|no_free|not_available|insufficient_gpus/i.test(code)) {
    return `No ${ctx.rent?.gpu_model ?? 'GPU of that model'} is free right now${server}; pick another model or try again later${ref}.`;
  }
  return `kgpu refused: ${p.serverMessage || code}${ref}.`;
}

export type NetworkErrorKind = 'unreachable' | 'timeout' | 'connection_lost';

/** No usable answer from kgpu. `requestSent` is false when the request surely never reached it. */
export class KgpuNetworkError extends KgpuError {
  constructor(
    override readonly kind: NetworkErrorKind,
    readonly apiBase: string,
    readonly method: string,
    readonly path: string,
    /** The low-level code (ECONNREFUSED, UND_ERR_SOCKET, UND_ERR_HEADERS_TIMEOUT…). */
    readonly code: string | undefined,
    readonly requestSent: boolean,
    options?: { cause?: unknown; timeoutMs?: number },
  ) {
    super('api', kind, networkMessage(kind, apiBase, method, path, code, options?.timeoutMs), { cause: options?.cause });
    this.name = 'KgpuNetworkError';
  }

  get userMessage(): string {
    return this.message;
  }

  override toString(): string {
    return this.message;
  }
}

function networkMessage(
  kind: NetworkErrorKind,
  base: string,
  method: string,
  path: string,
  code: string | undefined,
  timeoutMs?: number,
): string {
  const c = code ? `: ${code}` : '';
  // A rent whose answer never came may have rented anyway: "try again" would rent twice.
  if (method === 'POST' && /\/pods\/?$/.test(path) && kind !== 'unreachable') {
    const what =
      kind === 'timeout' ? `did not answer POST /pods within ${formatMs(timeoutMs ?? 0)}` : `lost the connection during POST /pods${c}`;
    return `kgpu at ${base} ${what}, and no new pod was found yet — a GPU may have been rented anyway. Refresh the Rentals view before renting again (release it there if you do not want it).`;
  }
  switch (kind) {
    case 'unreachable':
      return `Cannot reach kgpu at ${base}${c} — check kgpu.apiBase and your network.`;
    case 'timeout':
      return `kgpu at ${base} did not answer ${method} ${path} within ${formatMs(timeoutMs ?? 0)} — check your network; kgpu may be slow, try again.`;
    case 'connection_lost':
      return `The connection to kgpu at ${base} was lost during ${method} ${path}${c} — check your network and try again.`;
  }
}

function formatWait(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.ceil(s / 60)} min`;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** The caller cancelled (AbortSignal): the REST layer's CancelledError. `name` is "AbortError" like the platform's. */
export class KgpuAbortedError extends CancelledError {
  constructor(what: string, reason?: unknown) {
    super(what, reason, 'api');
  }
}

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/**
 * `POST /pods` that never rents twice (KgpuClient.rent): the request carries a unique
 * `env.KGPU_CLIENT_REQUEST_ID`; when its answer is lost the pod it created is looked for in
 * `GET /pods` and returned (its key re-minted); a cancelled rent releases what kgpu created anyway;
 * a 402/409 gets the balance, price or quota it lacks.
 */
import { randomBytes } from 'node:crypto';
import type { CallOptions } from './api-client';
import { KgpuAbortedError, KgpuApiError, KgpuNetworkError, type ErrorContext } from './api-error';
import type {
  Balance,
  GpuModel,
  Me,
  Pod,
  ReleaseResponse,
  RentRequest,
  RentResult,
  RotateKeyRequest,
  RotateKeyResponse,
} from './api-types';
import { abortableDelay, backoffDelayMs, type RetryPolicy } from './retry';

/** The client calls the rent flow makes besides its POST. */
export interface RentClient {
  listPods(o?: CallOptions): Promise<Pod[]>;
  getBalance(o?: CallOptions): Promise<Balance>;
  listGpuModels(o?: CallOptions): Promise<GpuModel[]>;
  getMe(o?: CallOptions): Promise<Me>;
  release(podId: string, o?: CallOptions): Promise<ReleaseResponse>;
  rotateSshKey(podId: string, req?: RotateKeyRequest, o?: CallOptions): Promise<RotateKeyResponse>;
}

export interface RentDeps {
  client: RentClient;
  /** `POST /pods` with this body, once (the transport never retries a POST). */
  post(body: RentRequest, context: ErrorContext, o: CallOptions): Promise<RentResult>;
  retryPolicy: RetryPolicy;
  rentSettleMs: number;
  timeoutMs: number;
}

const DEFAULT_RENT: { name: string; gpu_model: string; gpu_count: number } = { name: 'rent', gpu_model: 'rtx4090', gpu_count: 1 };

/** KgpuClient.rent's flow (see its comment). */
export async function rentPod(d: RentDeps, req: RentRequest = {}, o: CallOptions = {}): Promise<RentResult> {
  const marker = randomBytes(8).toString('hex');
  const body: RentRequest = { ...req, env: { ...(req.env ?? {}), KGPU_CLIENT_REQUEST_ID: marker } };
  const want = {
    name: req.name ?? DEFAULT_RENT.name,
    gpu_model: req.gpu_model ?? DEFAULT_RENT.gpu_model,
    gpu_count: req.gpu_count ?? DEFAULT_RENT.gpu_count,
  };
  const context: ErrorContext = { rent: { gpu_model: want.gpu_model, gpu_count: want.gpu_count } };
  const before = new Set((await d.client.listPods(o)).map((p) => p.pod_id));
  const maxAttempts = 2;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await d.post(body, context, o);
      return { ...r, recovered: false, client_request_id: marker };
    } catch (e) {
      if (e instanceof KgpuAbortedError && !(e instanceof RentCancelledError)) throw await cancelRent(d, before, want, marker);
      const lostAnswer = e instanceof KgpuNetworkError || (e instanceof KgpuApiError && e.status >= 500);
      if (!lostAnswer) {
        if (e instanceof KgpuApiError && (e.status === 402 || e.status === 409)) throw await enrichRentError(d, e, want, o);
        throw e;
      }
      if (!(e instanceof KgpuNetworkError && !e.requestSent)) {
        // The server may have created the pod: look for it (twice, in case it is still settling).
        let found = await findRentedPod(d, before, want, marker, o);
        if (!found && !(e instanceof KgpuApiError)) {
          await abortableDelay(d.rentSettleMs, o.signal, 'Renting');
          found = await findRentedPod(d, before, want, marker, o);
        }
        if (found) return await recoverRent(d, found, req, marker, o);
      }
      // A timeout leaves it open whether the server is still working on it: do not retry.
      if (attempt >= maxAttempts || (e instanceof KgpuNetworkError && e.kind === 'timeout')) throw e;
      await abortableDelay(backoffDelayMs(d.retryPolicy, attempt), o.signal, 'Renting');
    }
  }
}

async function findRentedPod(
  d: RentDeps,
  before: Set<string>,
  want: { name: string; gpu_model: string; gpu_count: number },
  marker: string,
  o: CallOptions,
): Promise<Pod | undefined> {
  const pods = await d.client.listPods(o);
  const fresh = pods.filter(
    (p) =>
      !before.has(p.pod_id) &&
      p.gpu_model === want.gpu_model &&
      p.gpu_count === want.gpu_count &&
      (p.name === undefined || p.name === want.name),
  );
  const byMarker = fresh.find((p) => {
    const env = p.env;
    return typeof env === 'object' && env !== null && (env as Record<string, unknown>).KGPU_CLIENT_REQUEST_ID === marker;
  });
  return byMarker ?? fresh[0];
}

/**
 * The caller cancelled while POST /pods was in flight: kgpu may have rented anyway. Look (without
 * the aborted signal, briefly) and release what this request created, so a cancelled rent leaves
 * nothing billing; the error says what happened.
 */
async function cancelRent(
  d: RentDeps,
  before: Set<string>,
  want: { name: string; gpu_model: string; gpu_count: number },
  marker: string,
): Promise<RentCancelledError> {
  const quick: CallOptions = { timeoutMs: Math.min(5_000, d.timeoutMs) };
  let found: Pod | undefined;
  try {
    found = await findRentedPod(d, before, want, marker, quick);
    if (!found && d.rentSettleMs > 0) {
      await abortableDelay(d.rentSettleMs);
      found = await findRentedPod(d, before, want, marker, quick);
    }
  } catch {
    return new RentCancelledError(undefined, false, true);
  }
  if (!found) return new RentCancelledError(undefined, false, false);
  try {
    await d.client.release(found.pod_id, quick);
    return new RentCancelledError(found.pod_id, true, false);
  } catch {
    return new RentCancelledError(found.pod_id, false, false);
  }
}

async function recoverRent(d: RentDeps, pod: Pod, req: RentRequest, marker: string, o: CallOptions): Promise<RentResult> {
  let sshAccess: RotateKeyResponse['ssh_access'] | undefined;
  try {
    // The lost answer held the only copy of a minted private key (or the fingerprint): rotate to get one.
    sshAccess = (await d.client.rotateSshKey(pod.pod_id, req.ssh_pubkey ? { ssh_pubkey: req.ssh_pubkey } : {}, o)).ssh_access;
  } catch {
    sshAccess = undefined; // the pod exists and bills: return it anyway; the user can rotate the key later
  }
  let balance = Number.NaN;
  try {
    balance = (await d.client.getBalance(o)).credits;
  } catch {
    // informational only
  }
  return {
    pod_id: pod.pod_id,
    gpu_model: pod.gpu_model,
    price_per_hour_credits: pod.price_per_hour_credits,
    balance_after_precheck: balance,
    ...(sshAccess ? { ssh_access: sshAccess } : {}),
    recovered: true,
    client_request_id: marker,
  };
}

/** Add balance/price (402) or GPUs in use/quota (409) to a rent error when its body lacks them. Best effort. */
async function enrichRentError(
  d: RentDeps,
  e: KgpuApiError,
  want: { gpu_model: string; gpu_count: number },
  o: CallOptions,
): Promise<KgpuApiError> {
  const quick: CallOptions = { signal: o.signal, timeoutMs: Math.min(5_000, o.timeoutMs ?? d.timeoutMs) };
  const ctx: ErrorContext = { ...e.context };
  const has = (k: string): boolean => typeof e.body?.[k] === 'number';
  if (e.status === 402 && has('balance') && has('needed_per_hour')) return e;
  if (e.status === 409 && has('gpus_in_use') && has('max_gpus')) return e;
  try {
    if (e.status === 402) {
      const [balance, models] = await Promise.all([d.client.getBalance(quick), d.client.listGpuModels(quick)]);
      ctx.balance = balance.credits;
      const price = models.find((m) => m.gpu_model === want.gpu_model)?.price_per_hour_credits;
      if (price !== undefined) ctx.neededPerHour = price * Math.max(want.gpu_count, 1);
    } else if (e.status === 409 && !/not_ready|capacity|unavailable|sold_out|no_free/i.test(e.code)) {
      const [me, pods] = await Promise.all([d.client.getMe(quick), d.client.listPods(quick)]);
      if (typeof me.quota?.max_gpus === 'number') ctx.gpuQuota = me.quota.max_gpus;
      ctx.gpusInUse = pods.filter((p) => p.phase === 'Pending' || p.phase === 'Running').reduce((n, p) => n + p.gpu_count, 0);
    } else {
      return e;
    }
  } catch {
    return e;
  }
  return new KgpuApiError(e.status, e.method, e.path, e.requestId, e.body, ctx);
}

/** `rent()` was cancelled through its AbortSignal (name "AbortError"). If kgpu had already rented,
 *  the pod was released (`released`), or — if that failed — `podId` names the pod still billing. */
export class RentCancelledError extends KgpuAbortedError {
  constructor(
    readonly podId: string | undefined,
    readonly released: boolean,
    /** True when we could not check whether kgpu rented anyway. */
    readonly unknown: boolean,
  ) {
    super('Renting');
    this.message = podId
      ? released
        ? `Renting was cancelled; kgpu had already created ${podId}, so it was released.`
        : `Renting was cancelled, but kgpu had already created ${podId} and releasing it failed — release it from the Rentals view; it bills until then.`
      : unknown
        ? 'Renting was cancelled; kgpu could not be asked whether the pod was created — check the Rentals view.'
        : 'Renting was cancelled; nothing was rented.';
  }
}

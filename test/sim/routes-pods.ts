/** Pods: list, rent, read, rotate key, release, one-shot exec. */
import { ApiError, invalid } from './api-error';
import { validateRent } from './pod-spec';
import type { Route, RouteContext } from './rest';
import { parsePublicKey } from './ssh-keys';
import type { PodRecord, SimState } from './state';

export const EXEC_MAX_STDIN = 1024 * 1024;
export const EXEC_MAX_OUTPUT = 1024 * 1024;
export const EXEC_MAX_TIMEOUT_S = 300;
/** Exec bodies carry up to 1 MiB of stdin, JSON-escaped. */
const EXEC_BODY_LIMIT = 8 * 1024 * 1024;

/** The contract: stdin ≤ 1 MiB, and a validation failure is a 422 naming the field. */
function stdinTooLarge(what: string): ApiError {
  return new ApiError(
    422,
    'validation_failed',
    `${what}; exec takes at most ${EXEC_MAX_STDIN} bytes (1 MiB) of stdin — copy bigger data over SSH (scp -O) or a transit object`,
    {
      field: 'stdin',
      max_bytes: EXEC_MAX_STDIN,
    },
  );
}

export function podRoutes(state: SimState): Route[] {
  /** The pod a request may see: its owner's, or (in-pod token) only its own. */
  function podFor(c: RouteContext): PodRecord {
    const id = c.params[0];
    const pod = state.pods.get(id);
    if (c.principal.kind === 'pod' && c.principal.pod.pod_id !== id) {
      throw new ApiError(403, 'forbidden_scope', 'the in-pod token can only read or release its own pod; use your account token');
    }
    if (!pod || pod.owner !== c.principal.account.user_id)
      throw new ApiError(404, 'not_found', `no pod ${id.slice(0, 80)} in your account (GET /pods lists them)`);
    return pod;
  }

  return [
    {
      method: 'GET',
      pattern: /^\/v1\/pods\/?$/,
      access: 'account',
      handler: (c) => ({ body: state.podsOf(c.principal.account).map((p) => state.podView(p)) }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/pods\/?$/,
      access: 'account',
      handler: async (c) => {
        const spec = validateRent(await c.json(), state.modelNames());
        const { pod, sshAccess, balanceAfter } = state.rent(c.principal.account, spec);
        return {
          body: {
            pod_id: pod.pod_id,
            gpu_model: pod.gpu_model,
            gpu_count: pod.gpu_count,
            price_per_hour_credits: pod.price_per_hour_credits,
            balance_after_precheck: balanceAfter,
            phase: pod.phase,
            ssh_access: sshAccess,
          },
        };
      },
    },
    { method: 'GET', pattern: /^\/v1\/pods\/([^/]+)\/?$/, access: 'pod', handler: (c) => ({ body: state.podView(podFor(c)) }) },
    {
      method: 'PATCH',
      pattern: /^\/v1\/pods\/([^/]+)\/?$/,
      access: 'account',
      handler: async (c) => {
        const pod = podFor(c);
        const body = await c.json();
        const pub = body.ssh_pubkey ?? null;
        let fp: string | null = null;
        if (pub !== null) {
          if (typeof pub !== 'string')
            throw invalid(
              'ssh_pubkey',
              'ssh_pubkey must be a string (one line of an OpenSSH public key), or omit it to have a key pair minted',
            );
          const parsed = parsePublicKey(pub);
          if ('error' in parsed) throw invalid('ssh_pubkey', parsed.error);
          fp = parsed.fingerprint;
        }
        const sshAccess = state.rotateKey(pod, fp);
        return { body: { pod_id: pod.pod_id, ssh_access: sshAccess } };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/pods\/([^/]+)\/?$/,
      access: 'pod',
      handler: async (c) => {
        const pod = podFor(c);
        if (pod.ended_at === null) await state.end(pod, 'returned');
        return { body: state.podView(pod) };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/pods\/([^/]+)\/exec\/?$/,
      access: 'account',
      handler: async (c) => {
        const pod = podFor(c);
        const body = await c.json(EXEC_BODY_LIMIT).catch((e: unknown) => {
          // A body this big can only be an oversized stdin (cmd is bounded by a command line's size).
          if (e instanceof ApiError && e.status === 413) throw stdinTooLarge(`the request body is over ${EXEC_BODY_LIMIT} bytes`);
          throw e;
        });
        const cmd = body.cmd;
        if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((a) => typeof a !== 'string')) {
          throw invalid('cmd', 'cmd is required: a non-empty argv list of strings, e.g. ["bash","-c","ls /workspace"]');
        }
        if ((cmd as string[]).some((a) => a.includes('\0'))) throw invalid('cmd', 'cmd arguments cannot contain NUL bytes');
        const stdinRaw = body.stdin ?? null;
        if (stdinRaw !== null && typeof stdinRaw !== 'string') throw invalid('stdin', 'stdin must be a string (≤ 1 MiB) or null');
        const stdin = stdinRaw === null ? undefined : Buffer.from(stdinRaw, 'utf8');
        if (stdin && stdin.length > EXEC_MAX_STDIN) throw stdinTooLarge(`stdin is ${stdin.length} bytes`);
        const timeout = body.timeout_seconds ?? 60;
        if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > EXEC_MAX_TIMEOUT_S) {
          throw invalid('timeout_seconds', `timeout_seconds must be an integer from 1 to ${EXEC_MAX_TIMEOUT_S}`);
        }
        if (pod.ended_at !== null) {
          throw new ApiError(409, 'pod_not_ready', `pod ${pod.pod_id} has ended (${pod.end_reason}); rent a new one`, { phase: pod.phase });
        }
        if (!pod.ready || !pod.handle) {
          throw new ApiError(
            409,
            'pod_not_ready',
            `pod ${pod.pod_id} is not ready yet (phase ${pod.phase}${pod.pending_reason ? `, ${pod.pending_reason}` : ''}); poll GET /pods/{id} until ready is true`,
            { phase: pod.phase },
          );
        }
        // Exec is not "SSH activity": it does not reset the idle clock (the contract's idle rule counts SSH only).
        const result = await pod.handle.exec(cmd as string[], { stdin, timeoutMs: timeout * 1000, maxOutputBytes: EXEC_MAX_OUTPUT });
        return { body: result };
      },
    },
  ];
}

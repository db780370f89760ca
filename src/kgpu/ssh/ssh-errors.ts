/**
 * Typed errors for SSH to a kgpu pod through the bastion. Each message says what happened and
 * what to do next; `cause` keeps the underlying ssh2/socket error.
 */
import { KgpuError } from '../util/kgpu-error';

/** The SSH layer's errors (util/kgpu-error.ts): each subclass names its `kind`. */
export class SshError extends KgpuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ssh', 'ssh', message, options);
  }
}

/** The bastion refused our key: the rental has ended, or its key was rotated (PATCH /pods/{id}). */
export class AuthRejectedError extends SshError {
  override readonly kind = 'auth_rejected';
  constructor(
    readonly host: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(
      `Permission denied (publickey) by the kgpu bastion at ${host}:${port}: the rental has ended or its SSH key was rotated. ` +
        'Check the pod in the Rentals view; if it is still running, rotate its SSH key to get a new one.',
      options,
    );
  }
}

/** No TCP connection / SSH handshake with the bastion (network down, wrong host or port, timeout). */
export class BastionUnreachableError extends SshError {
  override readonly kind = 'unreachable';
  constructor(
    readonly host: string,
    readonly port: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Cannot reach the bastion at ${host}:${port} (${reason}). Check your network and the kgpu.sshHost / kgpu.sshPort settings, then try again.`,
      options,
    );
  }
}

/** The bastion refused to open a channel or to run what we asked on it (exec/shell/pty). */
export class ChannelRefusedError extends SshError {
  override readonly kind = 'channel_refused';
  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `The kgpu bastion refused ${what}. The bastion allows one session per connection and no forwarding; if this persists the pod may be ending.`,
      options,
    );
  }
}

/** An established connection dropped before the operation finished. */
export class ConnectionLostError extends SshError {
  override readonly kind: string = 'connection_lost';
  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `The SSH connection to the pod was lost during ${what}. It is safe to retry; check the pod is still running if this repeats.`,
      options,
    );
  }
}

/** The operation was cancelled through its AbortSignal. */
export class SshAbortedError extends SshError {
  /** The same `kind` as util's CancelledError: `isCancelled(e)` recognises both. */
  override readonly kind = 'cancelled' as const;
  constructor(what: string) {
    super(`${what} was cancelled.`);
  }
}

/** The bastion presented a different host key than the one pinned on first use. */
export class HostKeyChangedError extends SshError {
  override readonly kind = 'host_key_changed';
  constructor(
    readonly hostPort: string,
    readonly expected: string,
    readonly actual: string,
    readonly pinFile?: string,
  ) {
    super(
      `WARNING: the SSH host key of ${hostPort} has changed (pinned ${expected}, now ${actual}). ` +
        'Someone could be intercepting the connection (man-in-the-middle), or the bastion was reinstalled. ' +
        'kgpu did not connect. Only if kgpu announced a new bastion key: run "kgpu: Forget Bastion Host Key…" (it shows both fingerprints and asks)' +
        (pinFile ? `, or remove the "${hostPort}" entry from ${pinFile},` : '') +
        ' then try again.',
    );
  }
}

/** ssh2 throws "Not connected" synchronously when a channel is asked for on a connection whose
 *  socket is gone or not writable (e.g. a pre-connected spare whose link just died): a lost
 *  connection, safe to retry. */
export function isNotConnected(e: unknown): boolean {
  return e instanceof Error && e.message === 'Not connected';
}

/** The one retryable-error predicate of the SSH layer: a dropped connection, an unreachable
 *  bastion, a refused channel are transient and worth another try (a rejected key, a changed
 *  host key or a cancellation is not). Every SSH reconnect loop asks this. */
export function isTransientSshError(e: unknown): e is Error {
  return e instanceof ConnectionLostError || e instanceof BastionUnreachableError || e instanceof ChannelRefusedError;
}

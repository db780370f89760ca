/**
 * Errors of the pod agent. A dropped connection or an agent that died is a ConnectionLostError
 * (from ../ssh-errors: safe to retry, and every retry predicate already knows it); these are the
 * agent's own cases. Each says what happened and what to do next.
 */
import { SshError } from '../ssh/ssh-errors';

/** The other side broke the framed protocol; the agent connection was closed (both sides). */
export class AgentProtocolError extends SshError {
  override readonly kind = 'agent_protocol';
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `The kgpu pod agent's connection was closed after a malformed frame (${detail}). The agent starts again on the next use; if this repeats, please report it.`,
      options,
    );
  }
}

/** The agent could not be placed or started in the pod. */
export class AgentStartError extends SshError {
  override readonly kind = 'agent_start';
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`The kgpu pod agent could not start in the pod: ${detail}`, options);
  }
}

/** The agent refused or failed to open a stream (the target is not allowed, not listening, …). */
export class AgentOpenError extends SshError {
  override readonly kind = 'agent_open';
  constructor(
    /** errno-style code from the pod: "EPERM" (not loopback), "ECONNREFUSED", "ENOENT", "EINVAL", … */
    readonly code: string,
    readonly target: string,
    readonly reason: string,
  ) {
    super(
      `The kgpu pod agent could not open ${target}: ${reason}${code === 'ECONNREFUSED' ? '. Is the server running in the pod and listening on that address?' : '.'}`,
    );
  }
}

/** The pod side reset an open stream (its peer reset the connection, a write failed, …). */
export class AgentStreamResetError extends SshError {
  override readonly kind = 'agent_stream_reset';
  constructor(
    readonly code: string,
    readonly target: string,
    readonly reason: string,
  ) {
    super(`The stream to ${target} was reset in the pod: ${reason}.`);
  }
}

/**
 * Which SSH client carries a pod's bulk copies (issue 25): the system's OpenSSH client when it is
 * present and can stand in for the connector (openssh-exec.ts: pinned host key, the connector's
 * key or agent, no user configuration), else ssh2 over the connector. For uploads OpenSSH spends
 * less CPU per byte, which is what limits a copy on a busy machine; downloads measured faster over
 * ssh2, so RemoteFs sends only uploads here unless told otherwise (test/bench/openssh-bulk.ts).
 *
 * The fallback: no `ssh` on PATH, a key OpenSSH cannot take without a prompt (passphrase, Pageant),
 * or an HTTP proxy → ssh2 from the start. OpenSSH failing before the pod answered (exit 255:
 * refused, host key, an option this ssh does not know) → this copy and every later one on this
 * client go over ssh2; `choice` says which and why. A lost connection later in a copy is the
 * transfer's ordinary retry, over the same client.
 */
import type { PodConnector } from '../ssh/ssh-connection';
import { execStream, type ExecStream } from '../ssh/ssh-exec';
import { SshAbortedError } from '../ssh/ssh-errors';
import { findSsh, OpensshExec, unavailableReason } from '../ssh/openssh-exec';
import type { Disposable } from '../util/emitter';
import type { BulkStreams } from './bulk-stream';

/** 'auto': OpenSSH when it can, else ssh2; 'ssh2': never OpenSSH; 'openssh': never fall back (bench). */
export type BulkClientMode = 'auto' | 'ssh2' | 'openssh';

export interface BulkClientOptions {
  mode?: BulkClientMode;
  /** The ssh program (default: the first `ssh` on PATH). */
  sshPath?: string;
  /** Where OpenSSH's private folder (key, known_hosts) is made (default: the OS temp folder). */
  tmpRoot?: string;
}

export class BulkClient implements BulkStreams, Disposable {
  private openssh: OpensshExec | undefined;
  private ssh2Reason: string | undefined;
  private readonly opensshStreams = new WeakSet<ExecStream>();
  private disposed = false;

  constructor(
    private readonly connector: PodConnector,
    private readonly options: BulkClientOptions = {},
  ) {
    const mode = options.mode ?? 'auto';
    if (mode === 'ssh2') this.ssh2Reason = 'ssh2 was asked for';
    else {
      const ssh = options.sshPath ?? findSsh();
      if (!ssh) this.ssh2Reason = 'no `ssh` program on PATH';
      else this.openssh = new OpensshExec(connector, ssh, { tmpRoot: options.tmpRoot });
    }
  }

  /** The client the next copy uses, and why ssh2 when it is ssh2. */
  get choice(): { client: 'openssh' | 'ssh2'; reason?: string } {
    const reason = this.ssh2Reason ?? unavailableReason(this.connector);
    return this.openssh && !reason ? { client: 'openssh' } : { client: 'ssh2', reason };
  }

  /** ssh processes still running (tests). */
  get opensshRunning(): number {
    return this.openssh?.running ?? 0;
  }

  async open(script: string, signal: AbortSignal | undefined): Promise<ExecStream> {
    if (this.disposed) throw new Error('The bulk copy client was disposed.');
    if (this.choice.client === 'openssh' && this.openssh) {
      // OpenSSH's known_hosts is made from the key our connector verified against the pin: make
      // sure it has (one handshake, once per connector).
      if (!this.connector.clientTarget.hostKey) (await this.connector.connect({ signal })).close();
      if (signal?.aborted) throw new SshAbortedError('The transfer');
      const s = this.openssh.execStream(script, { signal });
      this.opensshStreams.add(s);
      return s;
    }
    return execStream(this.connector, script, { signal });
  }

  fallBack(s: ExecStream, error: Error): boolean {
    if (!this.opensshStreams.has(s) || (this.options.mode ?? 'auto') === 'openssh' || error instanceof SshAbortedError) return false;
    if (this.openssh) {
      this.ssh2Reason = `OpenSSH failed before the pod answered: ${error.message}`;
      this.openssh.dispose();
      this.openssh = undefined;
    }
    return true;
  }

  dispose(): void {
    this.disposed = true;
    this.openssh?.dispose();
  }
}

/**
 * SFTP over an exec channel — the ONE place that touches ssh2 internals.
 *
 * Why: the kgpu bastion refuses the `sftp` subsystem (that is why plain `scp` fails and the
 * contract says `scp -O` / `sshfs -o sftp_server=/usr/lib/openssh/sftp-server`), but it lets us
 * exec `/usr/lib/openssh/sftp-server`, which speaks SFTP on stdin/stdout. ssh2 1.17 has no public
 * API for SFTP over exec. Its `Client#sftp()` opens a session channel and then sends exactly one
 * request through `client._protocol.subsystem(channelId, 'sftp', true)` (lib/client.js,
 * `reqSubsystem`). We replace that single request with
 * `client._protocol.exec(channelId, '/usr/lib/openssh/sftp-server', true)` for this one call and
 * restore the original at once, which yields ssh2's normal `SFTP` object (window backpressure,
 * limits@openssh.com, fastGet/fastPut, ext_openssh_*) over the exec'd server.
 *
 * The server is OpenSSH's sftp-server whatever the SSH server is, so we also set ssh2's internal
 * `SFTP#_isOpenSSH` flag (ssh2 derives it from the SSH server's ident), which makes ssh2 swap
 * SYMLINK's arguments the way OpenSSH's server expects.
 *
 * It depends on ssh2's internal `_protocol.subsystem`/`_protocol.exec` names, so ssh2 is pinned
 * (1.17.0) and test/unit/kgpu/ssh/sftp-over-exec.test.ts fails loudly if an upgrade changes them.
 */
import type { Client, SFTPWrapper } from 'ssh2';
import { ChannelRefusedError, ConnectionLostError, SshError, isNotConnected } from './ssh-errors';

export const DEFAULT_SFTP_SERVER = '/usr/lib/openssh/sftp-server';

type ChannelRequest = (this: unknown, channelId: number, nameOrCommand: string, wantReply: boolean) => void;
interface ProtocolInternals {
  subsystem: ChannelRequest;
  exec: ChannelRequest;
}

/** The ssh2 internals we rely on, or a loud error naming what changed. Exported for the guard test. */
export function ssh2ProtocolInternals(client: Client): ProtocolInternals {
  const proto = (client as unknown as { _protocol?: Partial<ProtocolInternals> })._protocol;
  if (!proto || typeof proto.subsystem !== 'function' || typeof proto.exec !== 'function') {
    throw new SshError(
      'ssh2 internals changed: Client#_protocol.subsystem/exec are missing, so SFTP over exec cannot work. ' +
        'kgpu pins ssh2 1.17.0; re-check src/kgpu/ssh/sftp-over-exec.ts before upgrading ssh2.',
    );
  }
  return proto as ProtocolInternals;
}

/** Whether the connection's socket is gone (ssh2's `Client#_sock`, set while connected). */
function connectionGone(client: Client): boolean {
  const sock = (client as unknown as { _sock?: { destroyed?: boolean; writable?: boolean } })._sock;
  return !sock || sock.destroyed === true || sock.writable === false;
}

/** Start `serverPath` on a fresh channel of this (ready, otherwise unused) connection and speak SFTP to it. */
export function openSftpOverExec(client: Client, serverPath: string = DEFAULT_SFTP_SERVER): Promise<SFTPWrapper> {
  const proto = ssh2ProtocolInternals(client);
  const hadOwn = Object.prototype.hasOwnProperty.call(proto, 'subsystem');
  const original = proto.subsystem;
  const restore = (): void => {
    if (hadOwn) proto.subsystem = original;
    else delete (proto as Partial<ProtocolInternals>).subsystem;
  };
  return new Promise<SFTPWrapper>((resolve, reject) => {
    let swapped = false;
    proto.subsystem = function (this: unknown, channelId: number, name: string, wantReply: boolean): void {
      restore();
      if (name !== 'sftp') return original.call(this, channelId, name, wantReply);
      swapped = true;
      proto.exec.call(this, channelId, serverPath, wantReply);
    };
    try {
      client.sftp((err, sftp) => {
        restore();
        if (err && connectionGone(client)) {
          // The connection itself dropped while the session was starting (ssh2 then reports
          // e.g. "Received unexpected SFTP session termination"): lost, not refused.
          reject(new ConnectionLostError('opening the SFTP session', { cause: err }));
        } else if (err) {
          reject(
            new ChannelRefusedError(
              `to start ${serverPath} for SFTP (${err.message}); custom images need \`apt install openssh-sftp-server\``,
              { cause: err },
            ),
          );
        } else if (!swapped) {
          sftp.end();
          reject(
            new SshError(
              'ssh2 internals changed: Client#sftp() no longer goes through _protocol.subsystem; see src/kgpu/ssh/sftp-over-exec.ts.',
            ),
          );
        } else {
          // The SFTP peer is OpenSSH's sftp-server even though the SSH server (the bastion) is
          // not OpenSSH; ssh2 decides OpenSSH quirks (e.g. SYMLINK's swapped arguments) from the
          // SSH server's ident, so tell it who it really talks to.
          (sftp as unknown as { _isOpenSSH: boolean })._isOpenSSH = true;
          resolve(sftp);
        }
      });
    } catch (e) {
      restore();
      // ssh2 throws "Not connected" when the socket went away before the channel could open
      // (e.g. a pre-connected spare whose link just died): a lost connection, safe to retry.
      reject(isNotConnected(e) ? new ConnectionLostError('opening the SFTP session', { cause: e }) : e);
    }
  });
}

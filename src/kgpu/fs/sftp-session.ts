/**
 * RemoteFs's one long-lived SFTP session (SFTP over exec — sftp-over-exec.ts): opened on first use
 * (concurrent callers share the opening), dropped when its channel or connection closes, and
 * reopened on the next operation. An operation's SFTP status becomes a RemoteFsError; a lost
 * connection closes the session and, for an idempotent operation, it runs once more on a fresh one.
 */
import type { SFTPWrapper } from 'ssh2';
import type { PodConnection, PodConnector } from '../ssh/ssh-connection';
import { openSftpOverExec } from '../ssh/sftp-over-exec';
import { ConnectionLostError } from '../ssh/ssh-errors';
import { markSftpDead } from '../ssh/sftp-io';
import { RemoteFsError, isStatusError, mapSftpError } from './remote-fs-error';

interface Session {
  sftp: SFTPWrapper;
  conn: PodConnection;
  alive: boolean;
}

export class SftpSession {
  private session: Promise<Session> | undefined;
  private current: Session | undefined;
  private disposed = false;

  constructor(
    private readonly connector: PodConnector,
    /** Path of sftp-server in the pod's image. */
    private readonly serverPath: string,
  ) {}

  private async open(): Promise<Session> {
    const conn = await this.connector.connect();
    let sftp: SFTPWrapper;
    try {
      sftp = await openSftpOverExec(conn.client, this.serverPath);
    } catch (e) {
      conn.close();
      throw e;
    }
    const s: Session = { sftp, conn, alive: true };
    const dead = (): void => {
      markSftpDead(sftp);
      s.alive = false;
      if (this.current === s) {
        this.current = undefined;
        this.session = undefined;
      }
      conn.close();
    };
    sftp.on('close', dead);
    sftp.on('end', dead);
    sftp.on('error', () => undefined);
    conn.client.on('close', dead);
    conn.client.on('error', () => undefined);
    this.current = s;
    return s;
  }

  private async sftp(): Promise<Session> {
    if (this.disposed) throw new Error('The pod file system was disposed.');
    if (!this.session) {
      const p = this.open();
      this.session = p;
      p.catch(() => {
        if (this.session === p) this.session = undefined;
      });
    }
    const pending = this.session;
    const s = await pending;
    if (!s.alive) {
      if (this.session === pending) this.session = undefined;
      return this.sftp();
    }
    return s;
  }

  /**
   * The SSH connection the SFTP session runs on now, and whether the session is still usable
   * (undefined before the first operation and after a drop). WorkspaceFs watches it to notice an
   * operation left hanging when the connection closes under it.
   */
  active(): { readonly conn: PodConnection; readonly alive: boolean } | undefined {
    const s = this.current;
    return s ? { conn: s.conn, alive: s.alive } : undefined;
  }

  /** Open the SFTP session now unless it is open (resolves once it is). */
  async ensureOpen(): Promise<void> {
    await this.sftp();
  }

  /** Run an SFTP operation; on a lost connection reopen, and retry once when `idempotent`. */
  async run<T>(what: string, target: string, idempotent: boolean, op: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.sftp();
      try {
        return await op(s.sftp);
      } catch (e) {
        if (isStatusError(e) || e instanceof RemoteFsError) throw mapSftpError(e, what, target);
        // Not an SFTP status: the channel or connection is gone.
        markSftpDead(s.sftp);
        s.alive = false;
        if (this.current === s) {
          this.current = undefined;
          this.session = undefined;
        }
        s.conn.close();
        if (idempotent && attempt === 0 && !this.disposed) continue;
        throw new ConnectionLostError(`${what} ${target}`, { cause: e });
      }
    }
  }

  /** Close the session's connection; operations fail from now on. */
  dispose(): void {
    this.disposed = true;
    this.current?.conn.close();
    this.current = undefined;
    this.session = undefined;
  }
}

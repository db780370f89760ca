/**
 * The SFTP a WorkspaceFs works over: the pod session's shared one when it has one (never closed
 * here), else its own over the pod's connector (reopened when the connector changes, e.g. after a
 * key rotation, and closed by drop()). Also learns who we are in the pod, once per connection.
 */
import type { PodConnector } from '../ssh/ssh-connection';
import { RemoteFs } from './remote-fs';
import { fetchIdentity, type PodIdentity } from './workspace-stat';

export interface WorkspaceConnectionOptions {
  connector: () => Promise<PodConnector>;
  sftp?: () => Promise<{ connector: PodConnector; rfs: RemoteFs }>;
  sftpServerPath?: string;
}

export class WorkspaceConnection {
  private current: { connector: PodConnector; rfs: RemoteFs; owned: boolean } | undefined;
  private identityAsked: Promise<PodIdentity | undefined> | undefined;
  private identityKnown: PodIdentity | undefined;

  constructor(private readonly options: WorkspaceConnectionOptions) {}

  /** Our identity in the pod as being asked on the current connection (undefined before the first). */
  get identity(): Promise<PodIdentity | undefined> | undefined {
    return this.identityAsked;
  }

  /** The last identity learnt (undefined until one answered). */
  get knownIdentity(): PodIdentity | undefined {
    return this.identityKnown;
  }

  async get(): Promise<{ connector: PodConnector; rfs: RemoteFs }> {
    if (this.options.sftp) {
      const shared = await this.options.sftp();
      if (this.current?.rfs !== shared.rfs) {
        this.drop();
        this.current = { ...shared, owned: false };
        this.identityAsked = undefined;
      }
    } else {
      const connector = await this.options.connector();
      if (this.current?.connector !== connector) {
        this.drop();
        this.current = { connector, rfs: new RemoteFs(connector, { sftpServerPath: this.options.sftpServerPath }), owned: true };
        this.identityAsked = undefined;
      }
    }
    const connector = this.current.connector;
    if (!this.identityAsked) {
      const id = fetchIdentity(connector);
      this.identityAsked = id;
      void id.then((v) => (this.identityKnown = v));
    }
    return this.current;
  }

  /** Close the SFTP this opened itself (a session's is the session's to close). */
  drop(): void {
    if (this.current?.owned) this.current.rfs.dispose();
    this.current = undefined;
  }
}

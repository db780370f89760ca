import * as vscode from 'vscode';
import { isLivePod } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { ForwardSet, type SavedForward } from '../kgpu/ports';
import type { KgpuServices } from '../platform/services';

/**
 * The window's forwarded ports (issue 19): each a PortForward (127.0.0.1 listener, one agent
 * stream per connection) for a pod port. Listed under their rental in the Rentals view (open in
 * the browser through vscode.env.asExternalUri, so it also works in VS Code for the web; copy the
 * address; stop). Kept in workspaceState and restored after a window reload while the pod lives
 * (on the same local port when it is still free); dropped when the pod ends. A dropped connection
 * does not stop a forward: its next connection starts the agent again.
 */
export interface ForwardedPortNode extends SavedForward {
  kind: 'forwardedPort';
}

const STATE_KEY = 'kgpu.forwardedPorts';

/** The editor side of a ForwardSet (src/kgpu/ports/forward-set.ts, which holds the logic). */
export class ForwardedPorts implements vscode.Disposable {
  private readonly set: ForwardSet;
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [this.emitter];

  constructor(services: KgpuServices) {
    const state = services.context.workspaceState;
    this.set = new ForwardSet({
      store: { get: () => state.get<unknown>(STATE_KEY), set: (list) => void state.update(STATE_KEY, list) },
      liveness: (podId) => {
        const pod = services.pods.get(podId);
        return pod ? (isLivePod(pod) ? 'live' : 'ended') : undefined;
      },
      openStream: async (podId, podPort, signal) =>
        services.connections.session(podId).agent.openStream({ kind: 'tcp', host: '127.0.0.1', port: podPort }, { signal }),
      log: services.log,
    });
    this.disposables.push(
      this.set,
      this.set.onDidChange(() => this.emitter.fire()),
      this.set.onDidFailConnection(({ saved, error }) =>
        services.log.warn(`Forwarded port 127.0.0.1:${saved.localPort} → ${saved.podId}:${saved.podPort}: ${errorMessage(error)}`),
      ),
      services.pods.onDidEndPod((e) => this.set.podEnded(e.pod.pod_id)),
      services.pods.onDidChange(() => void this.set.restore()),
    );
    void this.set.restore();
  }

  /** Forwards of a pod, by pod port. */
  of(podId: string): ForwardedPortNode[] {
    return this.set.of(podId).map(node);
  }

  find(podId: string, podPort: number): ForwardedPortNode | undefined {
    const s = this.set.find(podId, podPort);
    return s && node(s);
  }

  /** Forward `podPort` of the pod (a no-op returning the existing one when already forwarded). */
  async forward(
    podId: string,
    podPort: number,
    options: { localPort?: number; ifTaken?: 'any' | 'fail'; label?: string } = {},
  ): Promise<ForwardedPortNode> {
    return node(await this.set.forward(podId, podPort, options));
  }

  stop(podId: string, podPort: number): boolean {
    return this.set.stop(podId, podPort);
  }

  /** http://127.0.0.1:<local>/ */
  localUri(node: ForwardedPortNode): vscode.Uri {
    return vscode.Uri.parse(`http://127.0.0.1:${node.localPort}/`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function node(s: SavedForward): ForwardedPortNode {
  return { kind: 'forwardedPort', ...s };
}

const all = new WeakMap<KgpuServices, ForwardedPorts>();

/** The window's ForwardedPorts (created on first use, disposed with the extension). */
export function forwardedPortsFor(services: KgpuServices): ForwardedPorts {
  let f = all.get(services);
  if (!f) {
    f = new ForwardedPorts(services);
    all.set(services, f);
    services.context.subscriptions.push(f);
  }
  return f;
}

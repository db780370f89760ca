import * as vscode from 'vscode';
import { isLivePod } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { PortForward } from '../kgpu/ports';
import type { KgpuServices } from '../platform/services';
import { podAgentsFor } from '../platform/pod-agents';

/**
 * The window's forwarded ports (issue 19): each a PortForward (127.0.0.1 listener, one agent
 * stream per connection) for a pod port. Listed under their rental in the Rentals view (open in
 * the browser through vscode.env.asExternalUri, so it also works in VS Code for the web; copy the
 * address; stop). Kept in workspaceState and restored after a window reload while the pod lives
 * (on the same local port when it is still free); dropped when the pod ends. A dropped connection
 * does not stop a forward: its next connection starts the agent again.
 */
export interface ForwardedPortNode {
  kind: 'forwardedPort';
  podId: string;
  podPort: number;
  localPort: number;
  /** Who listens in the pod, when known (`train.py`, `tensorboard`). */
  label?: string;
}

interface Saved {
  podId: string;
  podPort: number;
  localPort: number;
  label?: string;
}

const STATE_KEY = 'kgpu.forwardedPorts';

export class ForwardedPorts implements vscode.Disposable {
  private readonly forwards = new Map<string, { node: ForwardedPortNode; forward: PortForward }>();
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [this.emitter];
  private restoring: Promise<void> | undefined;

  constructor(private readonly services: KgpuServices) {
    this.disposables.push(
      services.pods.onDidEndPod((e) => this.stopPod(e.pod.pod_id)),
      services.pods.onDidChange(() => void this.restore()),
    );
    void this.restore();
  }

  /** Forwards of a pod, by pod port. */
  of(podId: string): ForwardedPortNode[] {
    return [...this.forwards.values()]
      .filter((f) => f.node.podId === podId)
      .map((f) => f.node)
      .sort((a, b) => a.podPort - b.podPort);
  }

  find(podId: string, podPort: number): ForwardedPortNode | undefined {
    return this.forwards.get(key(podId, podPort))?.node;
  }

  /** Forward `podPort` of the pod (a no-op returning the existing one when already forwarded). */
  async forward(
    podId: string,
    podPort: number,
    options: { localPort?: number; ifTaken?: 'any' | 'fail'; label?: string } = {},
  ): Promise<ForwardedPortNode> {
    const known = this.forwards.get(key(podId, podPort));
    if (known) return known.node;
    const agent = podAgentsFor(this.services).get(podId);
    const forward = await PortForward.listen({
      podPort,
      localPort: options.localPort,
      ifTaken: options.ifTaken,
      openStream: (signal) => agent.openStream({ kind: 'tcp', host: '127.0.0.1', port: podPort }, { signal }),
    });
    const raced = this.forwards.get(key(podId, podPort));
    if (raced) {
      forward.dispose();
      return raced.node;
    }
    const node: ForwardedPortNode = { kind: 'forwardedPort', podId, podPort, localPort: forward.localPort, label: options.label };
    forward.onDidFailConnection((e) =>
      this.services.log.warn(`Forwarded port ${forward.address} → ${podId}:${podPort}: ${errorMessage(e)}`),
    );
    this.forwards.set(key(podId, podPort), { node, forward });
    this.services.log.info(`Forwarding ${forward.address} → ${podId} port ${podPort}.`);
    this.save();
    this.emitter.fire();
    return node;
  }

  stop(podId: string, podPort: number): boolean {
    const f = this.forwards.get(key(podId, podPort));
    if (!f) return false;
    f.forward.dispose();
    this.forwards.delete(key(podId, podPort));
    this.services.log.info(`Stopped forwarding ${f.forward.address} → ${podId} port ${podPort}.`);
    this.save();
    this.emitter.fire();
    return true;
  }

  /** http://127.0.0.1:<local>/ */
  localUri(node: ForwardedPortNode): vscode.Uri {
    return vscode.Uri.parse(`http://127.0.0.1:${node.localPort}/`);
  }

  private stopPod(podId: string): void {
    let changed = false;
    for (const [k, f] of this.forwards) {
      if (f.node.podId !== podId) continue;
      f.forward.dispose();
      this.forwards.delete(k);
      changed = true;
    }
    const saved = this.saved();
    if (saved.some((s) => s.podId === podId))
      void this.services.context.workspaceState.update(
        STATE_KEY,
        saved.filter((s) => s.podId !== podId),
      );
    if (changed) this.emitter.fire();
  }

  private saved(): Saved[] {
    const raw = this.services.context.workspaceState.get<unknown>(STATE_KEY);
    if (!Array.isArray(raw)) return [];
    return raw.filter(
      (s): s is Saved =>
        typeof s === 'object' &&
        s !== null &&
        typeof (s as Saved).podId === 'string' &&
        Number.isInteger((s as Saved).podPort) &&
        Number.isInteger((s as Saved).localPort),
    );
  }

  private save(): void {
    const live = [...this.forwards.values()].map((f) => ({
      podId: f.node.podId,
      podPort: f.node.podPort,
      localPort: f.node.localPort,
      ...(f.node.label ? { label: f.node.label } : {}),
    }));
    // Saved forwards of pods this window has not seen yet (not loaded) are kept.
    const others = this.saved().filter(
      (s) => !this.services.pods.get(s.podId) && !live.some((l) => l.podId === s.podId && l.podPort === s.podPort),
    );
    void this.services.context.workspaceState.update(STATE_KEY, [...others, ...live]);
  }

  /** Restore saved forwards of live pods (after a reload), once the pods are known. */
  private restore(): Promise<void> {
    this.restoring ??= (async () => {
      try {
        const ended: Saved[] = [];
        for (const s of this.saved()) {
          const pod = this.services.pods.get(s.podId);
          if (!pod) continue;
          if (!isLivePod(pod)) {
            ended.push(s);
            continue;
          }
          if (this.forwards.has(key(s.podId, s.podPort))) continue;
          try {
            await this.forward(s.podId, s.podPort, { localPort: s.localPort, ifTaken: 'any', label: s.label });
          } catch (e) {
            this.services.log.warn(`Could not restore the forward of ${s.podId} port ${s.podPort}: ${errorMessage(e)}`);
          }
        }
        if (ended.length) {
          const gone = new Set(ended.map((s) => s.podId));
          void this.services.context.workspaceState.update(
            STATE_KEY,
            this.saved().filter((s) => !gone.has(s.podId)),
          );
        }
      } finally {
        this.restoring = undefined;
      }
    })();
    return this.restoring;
  }

  dispose(): void {
    for (const f of this.forwards.values()) f.forward.dispose();
    this.forwards.clear();
    for (const d of this.disposables) d.dispose();
  }
}

function key(podId: string, podPort: number): string {
  return `${podId}:${podPort}`;
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

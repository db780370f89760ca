import * as vscode from 'vscode';
import { AgentClient } from '../kgpu/agent';
import { execStream } from '../kgpu/ssh/ssh-exec';
import type { KgpuServices } from '../platform/services';

/**
 * One pod agent client per pod for the notebook kernels, over the pod's shared connector. When
 * the pod's connections are reset (key rotated, settings changed, pod ended) the client is
 * dropped; the next use builds a new one (the kernels' sessions reconnect through it).
 */
export class PodAgents implements vscode.Disposable {
  private readonly clients = new Map<string, AgentClient>();
  private readonly subscription: vscode.Disposable;

  constructor(private readonly services: KgpuServices) {
    this.subscription = services.connections.onDidReset((e) => this.drop(e.podId));
  }

  get(podId: string): AgentClient {
    let c = this.clients.get(podId);
    if (!c || c.state === 'disposed') {
      c = new AgentClient({ exec: async (cmd, o) => execStream(await this.services.connections.get(podId), cmd, o) });
      this.clients.set(podId, c);
    }
    return c;
  }

  drop(podId: string): void {
    this.clients.get(podId)?.dispose();
    this.clients.delete(podId);
  }

  dispose(): void {
    this.subscription.dispose();
    for (const c of this.clients.values()) c.dispose();
    this.clients.clear();
  }
}

import * as vscode from 'vscode';
import { AgentClient } from '../kgpu/agent';
import { execStream } from '../kgpu/ssh/ssh-exec';
import type { KgpuServices } from '../platform/services';

/**
 * One pod agent client per pod for the debug sessions of this window (each session is one stream
 * on it; the agent closes itself a minute after its last stream). The exec looks the pod's
 * connector up on every start, so a new key or a reconnect is used. Disposed with the extension.
 */
export class PodAgents implements vscode.Disposable {
  private readonly clients = new Map<string, AgentClient>();

  constructor(private readonly services: KgpuServices) {}

  get(podId: string): AgentClient {
    let c = this.clients.get(podId);
    if (!c || c.state === 'disposed') {
      c = new AgentClient({ exec: async (cmd, o) => execStream(await this.services.connections.get(podId), cmd, o) });
      this.clients.set(podId, c);
    }
    return c;
  }

  dispose(): void {
    for (const c of this.clients.values()) c.dispose();
    this.clients.clear();
  }
}

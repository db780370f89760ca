import * as vscode from 'vscode';
import { AgentClient } from '../kgpu/agent';
import { execStream } from '../kgpu/ssh/ssh-exec';
import type { KgpuServices } from './services';

/**
 * One pod agent client per pod for the window (src/kgpu/agent/), shared by port forwarding,
 * port offers, TensorBoard, GPU telemetry, notebook kernels and debug sessions. Its exec looks the pod's connector up on every start,
 * so after a key rotation or a settings change the next start uses the new connection; the agent
 * of an ended pod is disposed. The agent itself starts on first use and closes after 60 s without
 * an open stream, so it never keeps the pod's idle clock running.
 */
export interface PodAgents {
  get(podId: string): AgentClient;
}

const all = new WeakMap<KgpuServices, PodAgents>();

export function podAgentsFor(services: KgpuServices): PodAgents {
  let agents = all.get(services);
  if (agents) return agents;
  const clients = new Map<string, AgentClient>();
  const reset = services.connections.onDidReset((e) => {
    const c = clients.get(e.podId);
    if (!c) return;
    if (e.reason === 'ended') {
      clients.delete(e.podId);
      c.dispose();
    } else {
      c.closeAgent();
    }
  });
  agents = {
    get(podId) {
      let c = clients.get(podId);
      if (!c || c.state === 'disposed') {
        c = new AgentClient({ exec: async (cmd, o) => execStream(await services.connections.get(podId), cmd, o) });
        clients.set(podId, c);
      }
      return c;
    },
  };
  all.set(services, agents);
  services.context.subscriptions.push(
    new vscode.Disposable(() => {
      reset.dispose();
      for (const c of clients.values()) c.dispose();
      clients.clear();
    }),
  );
  return agents;
}

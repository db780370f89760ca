import type { AgentClient } from '../kgpu/agent';
import type { KgpuServices } from './services';

/**
 * The pod agent of a pod (src/kgpu/agent/), as its PodSession holds it: one per pod for the window,
 * shared by port forwarding, port offers, TensorBoard, GPU telemetry, notebook kernels and debug
 * sessions. Its exec goes through the session's connector, so after a key rotation or a settings
 * change the next start uses the new connection; the session of an ended pod disposes it. The agent
 * starts on first use and closes after 60 s without an open stream, so it never keeps the pod's idle
 * clock running.
 */
export interface PodAgents {
  get(podId: string): AgentClient;
}

export function podAgentsFor(services: KgpuServices): PodAgents {
  return { get: (podId) => services.connections.session(podId).agent };
}

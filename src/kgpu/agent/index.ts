/**
 * The pod agent (issue 19): many independent streams to a pod — TCP to its loopback, Unix
 * sockets, processes — over ONE exec channel (the bastion allows one channel per connection and
 * no forwarding). pod/agent.py runs in the pod; docs/agent-protocol.md describes the wire format.
 * Start with `new AgentClient({ exec })` and `openStream(target)`.
 */
export {
  AgentClient,
  DEFAULT_AGENT_IDLE_CLOSE_MS,
  DEFAULT_AGENT_MAX_WINDOW,
  DEFAULT_AGENT_WINDOW,
  type AgentClientOptions,
  type AgentClientStats,
  type AgentExec,
  type AgentState,
} from './agent-client';
export type { AgentHello } from './agent-connection';
export { AgentStream } from './agent-stream';
export { describeTarget, type AgentTarget } from './agent-target';
export { agentCommand, agentScriptFrom, findExtensionRoot, loadAgentScript, AGENT_DIR, type AgentScript } from './agent-script';
export { AgentOpenError, AgentProtocolError, AgentStartError, AgentStreamResetError } from './errors';
export { backoffReconnectPolicy, isTransientSshError, type ReconnectPolicy } from '../ssh/reconnect-policy';
export { PROTOCOL_VERSION } from './protocol';

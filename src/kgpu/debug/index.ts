/**
 * Debugging a file in a pod (issue 21): DAP over a pod agent stream to debugpy, paths mapped
 * between this machine and /workspace/<folder>. startDebugJob() (launch: the program a job under
 * debugpy) and startPodDebug() (attach to debugpy.listen()) → a DapBridge the editor's inline
 * adapter (src/debug/) feeds; tests drive the same bridge.
 */
export { DapBridge, type DapBridgeOptions } from './dap-bridge';
export { DapDecoder, DapFramingError, encodeDap, type DapMessage } from './dap-codec';
export { KGPU_LIBRARY_SCHEME, KGPU_LIBRARY_URI_PREFIX, KGPU_URI_PREFIX, PodPathMap, walkSources, type PodPathMapOptions } from './path-map';
export {
  DebugStartError,
  explainEnd,
  pythonArgv,
  startPodDebug,
  type AttachSpec,
  type PodDebugSession,
  type PodDebugSpec,
  type StreamOpener,
} from './pod-debug';
export { DEBUG_PORT_LINE, startDebugJob, type DebugJobSession, type DebugJobSpec, type JobStarter, type OnDisconnect } from './debug-job';
export { findDebugPorts, type DebugPort } from './debug-port';

// The warm start (issue 22): a fork server per pod and interpreter that has the heavy packages
// imported, forks a run as a normal job, and falls back to a cold start in the same exec.
export { loadPodScript, podScriptFrom, findPodScript, type PodScript } from './pod-script';
export { placeScript, placeScriptShell, POD_PRIVATE_DIR } from './place-script';
export {
  describeStartMode,
  parseStartMode,
  preloadList,
  wantsServer,
  warmLaunchShell,
  warmUnsupported,
  type StartMode,
  type WarmRun,
} from './launch';
export {
  ensureForkServer,
  forkServerStatus,
  jobEnvExports,
  stopForkServers,
  type ForkServerResult,
  type ForkServerState,
  type ForkServerStatus,
} from './fork-server';
export { startWithMode, WarmStart, type WarmLaunch, type WarmStartSettings } from './warm-start';
export { MODULE_NAME, PLAIN_INTERPRETER } from './pod-shell';

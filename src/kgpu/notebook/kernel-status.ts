/**
 * The notebook kernel's status-bar item as data (issue 20: "kernel status and the GPU in the
 * notebook toolbar"): shown while the active notebook editor uses a kgpu kernel — the kernel's
 * state and, while the pod's GPU telemetry runs (telemetry-demand.ts: the notebook counts as in
 * use), its live numbers: `$(loading~spin) rtx4090 · busy · GPU 87% · 14.2/24 GiB`. Pure; the
 * editor adapter (src/notebook) localises the state words and shows it.
 */

/** What the item says about the kernel, from NotebookKernel.status (the kernel's execution
 *  state, the session's connection state, or an end). */
export type NotebookKernelState = 'starting' | 'idle' | 'busy' | 'reconnecting' | 'disconnected' | 'dead' | 'shut down' | 'pod ended';

export function notebookKernelState(status: string): NotebookKernelState {
  switch (status) {
    case 'idle':
    case 'busy':
    case 'reconnecting':
    case 'dead':
    case 'shut down':
    case 'pod ended':
      return status;
    case 'starting':
    case 'connecting':
    case 'restarting':
      return 'starting';
    default:
      // 'disconnected', 'lost', 'disposed', anything unknown: no kernel to talk to now.
      return 'disconnected';
  }
}

export interface NotebookStatusInput {
  /** NotebookKernel.status. */
  status: string;
  gpuModel: string;
  /** The pod's GPU summary (`GPU 87% · 14.2/24 GiB`) while its telemetry runs. */
  gpu?: string;
}

export interface NotebookStatusView {
  state: NotebookKernelState;
  /** A codicon name. */
  icon: string;
  /** The item's text with `label` standing for the (localised) state word. */
  text(label: string): string;
  /** The kernel is gone (it died, or its pod ended). */
  warning: boolean;
}

const ICONS: Record<NotebookKernelState, string> = {
  starting: 'sync~spin',
  idle: 'circuit-board',
  busy: 'loading~spin',
  reconnecting: 'sync~spin',
  disconnected: 'debug-disconnect',
  dead: 'error',
  'shut down': 'circle-slash',
  'pod ended': 'error',
};

export function notebookStatusView(i: NotebookStatusInput): NotebookStatusView {
  const state = notebookKernelState(i.status);
  const icon = ICONS[state];
  // Numbers only for a kernel that is there: a gone kernel's pod may be gone too.
  const gpu = i.gpu && (state === 'idle' || state === 'busy' || state === 'reconnecting') ? i.gpu : undefined;
  return {
    state,
    icon,
    text: (label) => [`$(${icon}) ${i.gpuModel}`, label, ...(gpu ? [gpu] : [])].join(' · '),
    warning: state === 'dead' || state === 'pod ended',
  };
}

/**
 * Notebook kernels in the pod (issue 20): pod/kernel_bridge.py keeps an IPython kernel and its
 * unacknowledged output in the pod, detached from any connection; KernelSession talks to it over
 * one pod-agent stream (JSON lines) and reattaches after drops; CellOutputs turns the kernel's
 * messages into a cell's outputs.
 */
export { appendStreamText, CellOutputs, displayStreamText, MAX_STREAM_CHARS, type CellOutput, type MimeBundle } from './cell-outputs';
export {
  KernelSession,
  type KernelConnectionState,
  type KernelHello,
  type KernelRecord,
  type KernelSessionOptions,
} from './kernel-session';
export {
  fallbackMessage,
  kernelBridgeScript,
  kernelIdFor,
  kernelPythonArgv,
  kernelStartShell,
  KernelStartError,
  startKernel,
  KERNEL_BRIDGE_SCRIPT,
  type KernelStartOptions,
  type KernelStarted,
} from './kernel-start';
export {
  notebookKernelState,
  notebookStatusView,
  type NotebookKernelState,
  type NotebookStatusInput,
  type NotebookStatusView,
} from './kernel-status';

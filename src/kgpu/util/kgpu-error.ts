/**
 * One vocabulary for errors, every layer: an error of ours is a KgpuError — the layer that raised
 * it, a machine-readable `kind` within that layer, a message that says what happened and what to
 * do next, and kgpu's request id when kgpu gave one. Each layer keeps its own classes (api:
 * KgpuApiError, KgpuNetworkError; ssh: SshError and its kinds; fs: WorkspaceFsError,
 * RemoteFsError; jobs: JobError, RunError; transfer: SyncError, TarCorruptError; net: ProxyTunnelError;
 * ports: PortForwardError; notebook: KernelStartError; deps: DepsInstallError; sweeps: SweepSpecError; debug:
 * DapFramingError; ssh also PassphraseDeclinedError) on this one base, so a caller that
 * only wants to show or log an error reads the same four fields whatever raised it. Cancellation
 * (kind 'cancelled', any layer) is util/cancelled.ts.
 */
export type ErrorLayer = 'api' | 'ssh' | 'fs' | 'jobs' | 'transfer' | 'net' | 'ports' | 'notebook' | 'deps' | 'sweeps' | 'debug' | 'core';

export class KgpuError extends Error {
  /** The layer that raised it. */
  readonly layer: ErrorLayer;
  /** What went wrong, machine-readable within the layer ('cancelled' means cancelled in every layer). */
  readonly kind: string;
  /** kgpu's X-Request-ID (or trace id) for errors kgpu answered; quote it to support. */
  readonly requestId: string | undefined;

  constructor(layer: ErrorLayer, kind: string, message: string, options?: { cause?: unknown; requestId?: string }) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.layer = layer;
    this.kind = kind;
    this.requestId = options?.requestId;
    this.name = new.target.name;
  }
}

/** What to show or log of any error: ours with their layer, kind and request id; anything else as an 'other' of no layer. */
export function describeError(e: unknown): { layer?: ErrorLayer; kind: string; message: string; requestId?: string } {
  if (e instanceof KgpuError)
    return { layer: e.layer, kind: e.kind, message: e.message, ...(e.requestId ? { requestId: e.requestId } : {}) };
  return { kind: 'other', message: e instanceof Error ? e.message : String(e) };
}

import type * as vscode from 'vscode';

/**
 * The open job log panels, by job, and the footer parts other contributions add to a finished
 * job's panel. Kept apart from the panel itself (job-log-terminal.ts, which loads with the first
 * log shown — issue 24: activation runs at startup), so the traceback links (pod-terminals.ts) and
 * the telemetry (its peak GPU memory in the footer) can use them from activation on.
 */
export interface OpenJobLogPanel {
  readonly podId: string;
  readonly jobId: string;
  readonly terminal: vscode.Terminal;
}

type FooterExtra = (podId: string, jobId: string) => string | undefined;

const open = new Map<string, Set<OpenJobLogPanel>>();
let footerExtras: FooterExtra[] = [];

const keyOf = (podId: string, jobId: string): string => `${podId}/${jobId}`;

/** A panel opened (its constructor); `removeJobLogPanel` when it closes. */
export function addJobLogPanel(panel: OpenJobLogPanel): void {
  const key = keyOf(panel.podId, panel.jobId);
  let set = open.get(key);
  if (!set) open.set(key, (set = new Set()));
  set.add(panel);
}

export function removeJobLogPanel(panel: OpenJobLogPanel): void {
  const key = keyOf(panel.podId, panel.jobId);
  const set = open.get(key);
  set?.delete(panel);
  if (set?.size === 0) open.delete(key);
}

/** The open panels of a job. */
export function jobLogPanelsOf(podId: string, jobId: string): OpenJobLogPanel[] {
  return [...(open.get(keyOf(podId, jobId)) ?? [])];
}

/** The open panel shown in a terminal, if any. */
export function jobLogPanelFor(terminal: vscode.Terminal | undefined): OpenJobLogPanel | undefined {
  if (!terminal) return undefined;
  for (const set of open.values()) for (const p of set) if (p.terminal === terminal) return p;
  return undefined;
}

/** Adds a part to every finished job's footer (undefined: nothing for this job); dispose to remove it. */
export function addJobLogFooterExtra(extra: FooterExtra): { dispose(): void } {
  footerExtras = [...footerExtras, extra];
  return {
    dispose: () => {
      footerExtras = footerExtras.filter((f) => f !== extra);
    },
  };
}

/** The footer parts for a finished job. */
export function jobLogFooterExtras(podId: string, jobId: string): string[] {
  return footerExtras.map((f) => f(podId, jobId)).filter((x): x is string => !!x);
}

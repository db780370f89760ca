import * as vscode from 'vscode';
import { JobLogPanel } from '../platform/job-log-terminal';
import type { KgpuServices } from '../platform/services';
import { telemetryFor } from '../platform/telemetry-hub';

/** GPU telemetry (Rentals row, status-bar tooltip, job footer's peak memory) and the idle guard (issue 19).
 *  "Release when done" (release-when-done-command.ts) loads with the first live pod (src/live-pod-contributions.ts). */
export function registerTelemetry(services: KgpuServices): vscode.Disposable {
  const hub = telemetryFor(services);
  const peak = (podId: string, jobId: string): string | undefined => hub.takePeak(podId, jobId);
  JobLogPanel.footerExtras.push(peak);
  return vscode.Disposable.from(
    // Tests and diagnostics (not in the palette): a pod's telemetry state.
    vscode.commands.registerCommand('kgpu._telemetryState', (podId: string) => ({
      running: hub.isRunning(podId),
      idleQuestionPending: hub.idleQuestionPending(podId),
      summary: hub.summary(podId),
    })),
    {
      dispose: () => {
        JobLogPanel.footerExtras = JobLogPanel.footerExtras.filter((f) => f !== peak);
      },
    },
  );
}

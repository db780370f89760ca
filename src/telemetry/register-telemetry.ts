import * as vscode from 'vscode';
import { addJobLogFooterExtra } from '../platform/job-log-panels';
import type { KgpuServices } from '../platform/services';
import { telemetryFor } from '../platform/telemetry-hub';

/** GPU telemetry (Rentals row, status-bar tooltip, job footer's peak memory) and the idle guard (issue 19).
 *  "Release when done" (release-when-done-command.ts) loads with the first live pod (src/live-pod-contributions.ts). */
export function registerTelemetry(services: KgpuServices): vscode.Disposable {
  const hub = telemetryFor(services);
  return vscode.Disposable.from(
    // Tests and diagnostics (not in the palette): a pod's telemetry state.
    vscode.commands.registerCommand('kgpu._telemetryState', (podId: string) => ({
      running: hub.isRunning(podId),
      idleQuestionPending: hub.idleQuestionPending(podId),
      summary: hub.summary(podId),
    })),
    // The job's peak GPU memory in its log panel's footer.
    addJobLogFooterExtra((podId, jobId) => hub.takePeak(podId, jobId)),
  );
}

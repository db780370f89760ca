import * as vscode from 'vscode';
import { podNotice } from '../kgpu/model/pod-notices';
import type { KgpuServices } from './services';

/** ONE notification per pod state change seen while polling (idle warning, ended with its reason,
 *  released elsewhere, ready after the rent progress was dismissed), with the next action. */
export function registerPodNotifications(services: KgpuServices): vscode.Disposable {
  return services.pods.onDidChangePodState((change) => {
    const jobReportsEviction = (podId: string): boolean =>
      // No job runner yet: no job of this window runs (issue 24: notices do not create it).
      (services.jobsIfCreated?.runner.runningJobs() ?? []).some((j) => j.podId === podId);
    const notice = podNotice(change, {
      releasedHere: services.podIntents.releasedHere,
      awaitingReady: services.podIntents.awaitingReady,
      jobReportsEviction,
    });
    if (change.kind === 'ended') services.log.info(`Pod ${change.pod.pod_id} ended: ${change.endReason || 'unknown reason'}.`);
    if (!notice) return;
    const show =
      notice.severity === 'error'
        ? vscode.window.showErrorMessage
        : notice.severity === 'warning'
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    void show(notice.message, ...notice.actions.map((a) => a.title)).then((title) => {
      const action = notice.actions.find((a) => a.title === title);
      if (action) void vscode.commands.executeCommand(action.command, ...action.args);
    });
  });
}

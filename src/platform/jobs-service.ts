import * as path from 'node:path';
import * as vscode from 'vscode';
import { isLivePod } from '../kgpu/api/api-types';
import type { JobRunner, TrackedJob } from '../kgpu/jobs/job-runner';
import { shortJobState } from '../kgpu/jobs/job-log-text';
import type { PodCommands } from '../kgpu/ssh/pod-commands';
import type { KgpuServices } from './services';

/**
 * The one JobRunner of the window (src/kgpu/jobs/job-runner.ts), shared by Run Active File, the job
 * rows in the Rentals view, Stop / Re-run and Show Job Log. Created on first use with the pods'
 * connectors (services.connections), workspaceState (log offsets and re-run recipes survive a
 * reload) and global storage (the sync's hash cache); disposed with the extension.
 */
export interface JobsHub {
  readonly runner: JobRunner;
  /** A QuickPick of known jobs (running ones only with `running`). */
  pickJob(options: { title: string; running?: boolean }): Promise<{ podId: string; jobId: string } | undefined>;
}

/** Commands that look the pod's connector up on every call, so a follow that reconnects after a
 *  key rotation (the old connector disposed) uses the new key. Rejects now if the pod cannot be reached. */
async function podCommandsVia(services: KgpuServices, podId: string): Promise<PodCommands> {
  const session = services.connections.session(podId);
  await session.connector();
  return session.commands;
}

/** The window's jobs hub: `services.jobs` (kept for the callers that use this name); creates the JobRunner
 *  when it does not exist yet. Code that only reacts to jobs uses `services.jobsIfCreated` / `onDidCreateJobs`. */
export function jobsFor(services: KgpuServices): JobsHub {
  return services.jobs;
}

/** Creates the hub; the services call this once, on first use of `services.jobs`. */
export function createJobsHub(services: KgpuServices): JobsHub {
  const storage = services.context.globalStorageUri?.fsPath;
  // Required here, not imported: the runner and what it holds (sync, transfer, warm start, deps,
  // launch) run only once a job needs them, not when dist/extension.js loads (issue 24).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { JobRunner } = require('../kgpu/jobs/job-runner') as typeof import('../kgpu/jobs/job-runner');
  const runner = new JobRunner({
    commands: (podId) => podCommandsVia(services, podId),
    // Its reconnect policy for log follows; Run's sync tells it which paths changed (the kgpu: explorer).
    session: (podId) => services.connections.session(podId),
    store: services.context.workspaceState,
    syncStateDir: typeof storage === 'string' ? path.join(storage, 'sync') : undefined,
    pollMs: 5000,
    // The synced project's requirements.txt / pyproject.toml / environment.yml, installed once (src/kgpu/deps/).
    projectDeps: () => services.settings.get().installDependencies !== 'off',
    warmStart: () => {
      const s = services.settings.get();
      return { mode: s.warmStart, preload: s.warmStartPreload };
    },
  });
  const hub: JobsHub = {
    runner,
    async pickJob(options) {
      const all: TrackedJob[] = [];
      for (const pod of services.pods.pods) {
        if (!isLivePod(pod)) continue;
        if (runner.jobs(pod.pod_id).length === 0) await runner.refresh(pod.pod_id).catch(() => undefined);
        all.push(...runner.jobs(pod.pod_id).filter((j) => !options.running || j.info.status.state === 'running'));
      }
      if (all.length === 0) {
        void vscode.window.showInformationMessage(
          options.running ? vscode.l10n.t('kgpu: no running jobs on your pods.') : vscode.l10n.t('kgpu: no jobs on your pods.'),
        );
        return undefined;
      }
      if (all.length === 1) return { podId: all[0].podId, jobId: all[0].info.id };
      const picked = await vscode.window.showQuickPick(
        all.map((j) => ({
          label: j.info.name,
          description: shortJobState(j.info.status),
          detail: `${services.pods.get(j.podId)?.name ?? j.podId} · ${j.info.id}`,
          job: j,
        })),
        { title: options.title },
      );
      return picked ? { podId: picked.job.podId, jobId: picked.job.info.id } : undefined;
    },
  };
  services.context.subscriptions.push({ dispose: () => runner.dispose() });
  return hub;
}

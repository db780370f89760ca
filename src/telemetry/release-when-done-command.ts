import * as vscode from 'vscode';
import { isJobEnded } from '../kgpu/jobs';
import { describeRefused } from '../kgpu/transfer/local-path-guard';
import { downloadFromPod } from '../kgpu/transfer/pod-download';
import { ReleaseWhenDone, type ReleasePlan } from '../kgpu/telemetry';
import { jobsFor } from '../platform/jobs-service';
import type { RunStarted } from '../platform/run-started';
import type { KgpuServices } from '../platform/services';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';

/**
 * "Release when done" (issue 19): when a job ends, download the paths the user chose, then release
 * its pod (no further question: the user asked for it). Plans live in workspaceState (they survive
 * a reload; a job that ended meanwhile is caught when the job list is next read). A failed download
 * keeps the pod and says so.
 *  - `kgpu: Release Pod When Job Ends…` on a running job (row context menu or palette);
 *    argument (tests): `{ podId, jobId, paths?: string[], localDir?: string }` skips the prompts.
 *  - `kgpu: Run Active File, Release When Done…` — Run Active File, then the same plan for its job.
 */
const STATE_KEY = 'kgpu.releaseWhenDone';

export function registerReleaseWhenDone(services: KgpuServices): vscode.Disposable {
  const state = services.context.workspaceState;
  const hub = jobsFor(services);
  const plans = new ReleaseWhenDone(
    {
      download: async (podId, paths, localDir) => {
        const connector = await services.connections.get(podId);
        return vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: vscode.l10n.t('kgpu: downloading {0} before releasing…', paths.join(', ')),
          },
          () => downloadFromPod(connector, paths, localDir),
        );
      },
      release: async (podId) => {
        if ((await vscode.commands.executeCommand<boolean>('kgpu.release', { podId, yes: true })) !== true)
          throw new Error('the release did not complete');
      },
      save: (all) => void state.update(STATE_KEY, all),
    },
    state.get<ReleasePlan[]>(STATE_KEY, []),
  );
  const carryOut = async (podId: string, jobId: string): Promise<void> => {
    const job = hub.runner.get(podId, jobId);
    if (!job || !isJobEnded(job.info.status)) return;
    const o = await plans.jobEnded(podId, job.info);
    if (!o) return;
    const pod = services.pods.get(podId)?.name ?? podId;
    if (o.kind === 'released') {
      const got = o.download ? ` after downloading ${o.download.files} file(s) to ${o.plan.localDir}` : '';
      services.log.info(`Release when done: released ${podId}${got} (job ${jobId} ended).`);
      void vscode.window.showInformationMessage(
        o.download
          ? vscode.l10n.t(
              'kgpu: {0} ended — {1} released after downloading {2} file(s) to {3}.',
              job.info.name,
              pod,
              o.download.files,
              o.plan.localDir ?? '',
            )
          : vscode.l10n.t('kgpu: {0} ended — {1} released.', job.info.name, pod),
      );
    } else if (o.kind === 'kept') {
      const why = o.download?.refused.length
        ? `${o.reason}: ${describeRefused(o.download.refused)}`
        : o.error
          ? `${o.reason}: ${o.error instanceof Error ? o.error.message : String(o.error)}`
          : o.reason;
      services.log.warn(`Release when done: kept ${podId} — ${why}.`);
      void vscode.window
        .showWarningMessage(
          vscode.l10n.t('kgpu: {0} ended, but {1} was NOT released: {2}. It is still billed.', job.info.name, pod, why),
          vscode.l10n.t('Release…'),
        )
        .then((a) => a && vscode.commands.executeCommand('kgpu.release', podId));
    }
  };
  const catchUp = (): void => {
    for (const p of plans.all) void carryOut(p.podId, p.jobId);
  };

  const add = async (podId: string, jobId: string, o: { paths?: unknown; localDir?: unknown }): Promise<ReleasePlan | undefined> => {
    let paths: string[];
    let localDir = typeof o.localDir === 'string' ? o.localDir : undefined;
    if (Array.isArray(o.paths)) paths = o.paths.filter((p): p is string => typeof p === 'string');
    else {
      const text = await vscode.window.showInputBox({
        title: vscode.l10n.t('kgpu: download what before releasing? (pod paths, comma-separated; empty: nothing)'),
        placeHolder: '/workspace/checkpoints, /workspace/metrics.jsonl', // l10n-ignore: example paths
        prompt: vscode.l10n.t('These are copied to a local folder when the job ends; then the pod is released.'),
      });
      if (text === undefined) return undefined;
      paths = text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    }
    if (paths.length && !localDir) {
      const folder = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        openLabel: vscode.l10n.t('Download here'),
        title: vscode.l10n.t('Download the results to…'),
      });
      if (!folder?.[0]) return undefined;
      localDir = folder[0].fsPath;
    }
    const plan: ReleasePlan = { podId, jobId, paths, localDir };
    plans.add(plan);
    services.log.info(
      `Release when done: ${podId} after job ${jobId}${paths.length ? `, downloading ${paths.join(', ')} to ${localDir}` : ''}.`,
    );
    void carryOut(podId, jobId); // it may have ended already
    return plan;
  };

  return vscode.Disposable.from(
    hub.runner.onDidEnd((e) => void carryOut(e.job.podId, e.job.info.id)),
    hub.runner.onDidChange(catchUp),
    services.pods.onDidEndPod((e) => plans.podEnded(e.pod.pod_id)),
    vscode.commands.registerCommand('kgpu.releaseWhenDone', async (arg?: unknown) => {
      const o = optionsOf(decodeCommandArgs(arg)) as {
        podId?: string;
        jobId?: string;
        info?: { id?: string };
        paths?: unknown;
        localDir?: unknown;
      };
      const jobId = o.jobId ?? o.info?.id;
      const picked =
        o.podId && jobId
          ? { podId: o.podId, jobId }
          : await hub.pickJob({ title: vscode.l10n.t('Release the pod when which job ends?'), running: true });
      if (!picked) return undefined;
      return add(picked.podId, picked.jobId, o);
    }),
    vscode.commands.registerCommand('kgpu.runActiveFileReleaseWhenDone', async (arg?: unknown) => {
      const started = (await vscode.commands.executeCommand('kgpu.runActiveFile', arg)) as RunStarted | undefined;
      if (!started) return undefined;
      const o = optionsOf(decodeCommandArgs(arg)) as { paths?: unknown; localDir?: unknown };
      const plan = await add(started.podId, started.jobId, o);
      void started.done.then(
        () => carryOut(started.podId, started.jobId),
        () => undefined,
      );
      return plan ? { ...started, plan } : started;
    }),
  );
}

import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import { describeEndReason } from '../kgpu/model/end-reason';
import { describeJobStatus, isJobEnded } from '../kgpu/jobs/job-status';
import { jobContextValue, looksOutOfMemory, shortJobState } from '../kgpu/jobs/job-log-text';
import type { JobEndEvent, TrackedJob } from '../kgpu/jobs/job-runner';
import { rentAgainOptions } from '../kgpu/model/pod-notices';
import type { RentAnswers } from '../kgpu/model/rent-options';
import { JobLogPanel, openJobLog } from '../platform/job-log-terminal';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import { jobsFor } from '../platform/jobs-service';
import { showRunHandle } from './run-command';
import type { KgpuServices } from '../platform/services';

/** A job row under its rental; context-menu commands receive it (`podId` for pickPod). */
export interface JobRow {
  kind: 'job';
  podId: string;
  jobId: string;
}

const MAX_ROWS = 20;

/**
 * Jobs under their rental in the Rentals view (running / exited with code / killed / out of
 * memory, context values `job.<state>`), with Stop (`kgpu.stopJob`, whole process group, after a
 * confirmation; `{podId, jobId, yes: true}` skips it), Show Log and Re-run (`kgpu.rerunJob`).
 * Running jobs are found again from the pods after a window reload, and the log panels that were
 * open resume at the stored offset. Out of memory / disk evictions offer a re-run on a bigger pod.
 */
export function registerJobs(services: KgpuServices): vscode.Disposable {
  const jobs = jobsFor(services);
  const runner = jobs.runner;
  const changed = new vscode.EventEmitter<void>();
  const loaded = new Set<string>();
  const disposables: vscode.Disposable[] = [changed];

  const setContext = (): void => {
    const live = services.pods.pods.filter(isLivePod);
    const all = live.flatMap((p) => runner.jobs(p.pod_id));
    void vscode.commands.executeCommand('setContext', 'kgpu.hasJobs', all.length > 0);
    void vscode.commands.executeCommand(
      'setContext',
      'kgpu.hasRunningJob',
      all.some((j) => !isJobEnded(j.info.status)),
    );
  };

  disposables.push(
    services.rentalChildren.register<JobRow>({
      onDidChange: changed.event,
      getChildren: (pod: Pod) =>
        runner
          .jobs(pod.pod_id)
          .slice(0, MAX_ROWS)
          .map((j) => ({ kind: 'job', podId: pod.pod_id, jobId: j.info.id })),
      getTreeItem: (row) => jobTreeItem(runner.get(row.podId, row.jobId), row),
    }),
  );
  const sub = runner.onDidChange(() => {
    changed.fire();
    setContext();
  });
  disposables.push({ dispose: () => sub.dispose() });

  // Load the jobs of each ready pod once (and after a reload, resume the panels that were open).
  const loadPod = async (podId: string): Promise<void> => {
    if (loaded.has(podId)) return;
    loaded.add(podId);
    try {
      await runner.refresh(podId);
    } catch (e) {
      loaded.delete(podId);
      services.log.warn(`Could not list the jobs of ${podId}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    for (const r of runner.resumable(podId)) {
      if (JobLogPanel.panelsOf(podId, r.job.info.id).length) continue;
      services.log.info(`Resuming the log of job ${r.job.info.id} on ${podId} at byte ${r.offset}.`);
      openJobLog(services, podId, r.job.info, r.offset, false);
    }
  };
  const loadReadyPods = (): void => {
    for (const pod of services.pods.pods) if (isLivePod(pod) && pod.ready) void loadPod(pod.pod_id);
  };
  disposables.push(services.pods.onDidChange(loadReadyPods));
  void services.ready.then(loadReadyPods);

  disposables.push(
    services.pods.onDidEndPod((e) => {
      loaded.delete(e.pod.pod_id);
      runner.podEnded(e.pod.pod_id, e.endReason ?? '');
    }),
  );

  // Pods whose eviction one job's notice has reported (several jobs on one pod: one notice).
  const evictionsReported = new Set<string>();
  const endSub = runner.onDidEnd((e) => {
    // Panels whose follow could not drain the log (the pod ended) still get a footer.
    if (e.job.podEndReason)
      for (const p of JobLogPanel.panelsOf(e.job.podId, e.job.info.id)) p.ended(e.job.info.status, e.job.podEndReason);
    notifyEnd(services, e, evictionsReported);
  });
  disposables.push({ dispose: () => endSub.dispose() });

  disposables.push(
    vscode.commands.registerCommand('kgpu.stopJob', async (arg?: unknown) => {
      services.podKeys.allowPassphrasePrompt();
      const args = decodeCommandArgs(arg);
      const o = optionsOf(args) as { yes?: boolean; graceMs?: number };
      const picked =
        args.kind === 'job'
          ? { podId: args.podId, jobId: args.jobId }
          : await jobs.pickJob({ title: vscode.l10n.t('Stop which job?'), running: true });
      if (!picked) return undefined;
      const job = runner.get(picked.podId, picked.jobId);
      const name = job?.info.name ?? picked.jobId;
      if (job && isJobEnded(job.info.status)) {
        void vscode.window.showInformationMessage(
          vscode.l10n.t('kgpu: {0} has already ended ({1}).', name, describeJobStatus(job.info.status)),
        );
        return job.info.status;
      }
      if (!o.yes) {
        const stop = vscode.l10n.t('Stop');
        const go = await vscode.window.showWarningMessage(
          vscode.l10n.t('Stop {0}?', name),
          {
            modal: true,
            detail: vscode.l10n.t(
              'Its whole process group (the script and every process it started) gets SIGTERM, then SIGKILL after 5 s. Its log and files stay in the pod.',
            ),
          },
          stop,
        );
        if (go !== stop) return undefined;
      }
      try {
        const info = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('kgpu: stopping {0}…', name) },
          () => runner.stop(picked.podId, picked.jobId, { graceMs: o.graceMs }),
        );
        services.log.info(`Stopped job ${picked.jobId} on ${picked.podId}: ${describeJobStatus(info.status)}.`);
        return info.status;
      } catch (e) {
        services.showError(e, { prefix: vscode.l10n.t('Could not stop {0}:', name) });
        return undefined;
      }
    }),
    vscode.commands.registerCommand('kgpu.rerunJob', async (arg?: unknown) => {
      services.podKeys.allowPassphrasePrompt();
      const args = decodeCommandArgs(arg);
      const picked =
        args.kind === 'job'
          ? { podId: args.podId, jobId: args.jobId }
          : await jobs.pickJob({ title: vscode.l10n.t('Run which job again?') });
      if (!picked) return undefined;
      const job = runner.get(picked.podId, picked.jobId);
      if (!job) {
        void vscode.window.showErrorMessage(
          vscode.l10n.t('kgpu: job {0} is not known on {1}; refresh the Rentals view.', picked.jobId, picked.podId),
        );
        return undefined;
      }
      await vscode.workspace.saveAll(false);
      try {
        return await showRunHandle(
          services,
          picked.podId,
          job.info.name,
          job.recipe ? undefined : { command: job.info.command, cwd: job.info.cwd },
          (sink) => runner.rerun(picked.podId, picked.jobId, { ...sink, env: services.settings.get().env }),
        );
      } catch (e) {
        services.showError(e, { prefix: vscode.l10n.t('Could not re-run {0}:', job.info.name) });
        return undefined;
      }
    }),
  );
  setContext();
  return vscode.Disposable.from(...disposables);
}

function jobTreeItem(job: TrackedJob | undefined, row: JobRow): vscode.TreeItem {
  if (!job) return new vscode.TreeItem(row.jobId);
  const status = job.info.status;
  // "train.py" as the label, the state first in the description (it must stay visible), then the arguments.
  const [script, ...rest] = job.info.name.split(' ');
  const label = script.endsWith('.py') ? script : job.info.name;
  const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
  item.id = `job:${row.podId}/${row.jobId}`;
  item.description = [shortJobState(status), ...(label === script && rest.length ? [rest.join(' ')] : [])].join(' · ');
  item.contextValue = jobContextValue(status);
  item.iconPath =
    status.state === 'running'
      ? new vscode.ThemeIcon('sync~spin')
      : status.state === 'exited'
        ? status.exitCode === 0
          ? new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'))
          : new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'))
        : status.state === 'oom' || looksOutOfMemory(status)
          ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'))
          : new vscode.ThemeIcon('debug-stop');
  const started = job.info.startedAt ?? job.info.createdAt;
  item.tooltip = new vscode.MarkdownString(
    [
      `**${job.info.name}** — ${describeJobStatus(status)}`,
      '',
      `\`${job.info.command}\``,
      '',
      vscode.l10n.t('in `{0}`', job.info.cwd),
      '',
      vscode.l10n.t('started {0} · job `{1}`', started ? new Date(started).toLocaleString() : '?', job.info.id),
    ].join('\n'),
  );
  item.command = {
    command: 'kgpu.showJobLog',
    title: vscode.l10n.t('Show Job Log'),
    arguments: [{ podId: row.podId, jobId: row.jobId, from: 'start', reveal: true }],
  };
  return item;
}

/** Out of memory / disk: say so with the fix, opening the rent wizard pre-filled (an eviction once per pod). */
function notifyEnd(services: KgpuServices, e: JobEndEvent, evictionsReported: Set<string>): void {
  const { job } = e;
  const pod = services.pods.get(job.podId);
  const name = job.info.name;
  const endKind = job.podEndReason ? describeEndReason(job.podEndReason as Parameters<typeof describeEndReason>[0]).kind : undefined;
  const oom = looksOutOfMemory(job.info.status) || endKind === 'out_of_memory';
  const disk = endKind === 'disk_full';
  if (!oom && !disk) return;
  if (job.podEndReason) {
    if (evictionsReported.has(job.podId)) return;
    evictionsReported.add(job.podId);
  }
  const why = disk
    ? vscode.l10n.t('the pod ran out of disk ({0})', String(job.podEndReason))
    : job.info.status.state === 'killed'
      ? vscode.l10n.t('it was killed by SIGKILL, most likely by the out-of-memory killer')
      : job.podEndReason
        ? vscode.l10n.t('the pod was evicted: out of memory ({0})', job.podEndReason)
        : vscode.l10n.t('it ran out of memory');
  services.log.warn(`Job ${job.info.id} (${name}) on ${job.podId}: ${why}.`);
  const actions: { title: string; options: RentAnswers }[] = [];
  if (pod) {
    if (disk) actions.push({ title: vscode.l10n.t('Re-run on a pod with more disk…'), options: rentAgainOptions(pod, 'more_disk') });
    else {
      actions.push({ title: vscode.l10n.t('Re-run on a pod with more memory…'), options: rentAgainOptions(pod, 'more_memory') });
      const { gpu_model: _model, ...rest } = rentAgainOptions(pod, 'same');
      void _model;
      actions.push({ title: vscode.l10n.t('Re-run on a bigger GPU…'), options: rest });
    }
  }
  void vscode.window
    .showWarningMessage(
      disk
        ? vscode.l10n.t('kgpu: {0} ended — {1}. Re-run on a pod with more disk.', name, why)
        : vscode.l10n.t('kgpu: {0} ended — {1}. Re-run on a pod with more memory / a bigger GPU.', name, why),
      ...actions.map((a) => a.title),
    )
    .then(async (title) => {
      const action = actions.find((a) => a.title === title);
      if (!action) return;
      const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent', { ...action.options });
      if (!podId || !job.recipe || job.recipe.target.kind !== 'local') return;
      // The new pod is ready: run the same file there (a file that lived on the old pod is gone with it).
      const recipe = job.recipe;
      await showRunHandle(services, podId, name, undefined, (sink) =>
        jobsFor(services).runner.runFile({ ...recipe, ...sink, env: services.settings.get().env, podId }),
      ).catch((err: unknown) => services.showError(err, { prefix: vscode.l10n.t('Could not re-run {0}:', name) }));
    });
}

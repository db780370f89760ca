import * as path from 'node:path';
import * as vscode from 'vscode';
import { installPackages, installWithPython, missingModule, missingModuleFix, withRequirement, type DepsPlan } from '../kgpu/deps';
import type { StoredRecipe } from '../kgpu/jobs/job-runner';
import type { KgpuServices } from '../platform/services';

/**
 * A job that died of `ModuleNotFoundError: No module named 'x'` gets ONE notification: "Install x
 * in the pod (and add it to requirements.txt)". Install puts x into the project's environment in
 * the pod (src/kgpu/deps/), then offers to append it to requirements.txt and to run again; for a
 * project without an environment (no dependency file yet) the choice is to add it to
 * requirements.txt and run again, which makes the environment with it. With
 * kgpu.installDependencies off (no environments), Install runs kgpu.python's own pip in the job's
 * folder. The installer gets kgpu.env (a private index's credentials). Returns what was done
 * (tests, e2e).
 */
export interface MissingModuleJob {
  podId: string;
  jobId: string;
  /** The end of the job's log (the traceback's last line names the module). */
  logTail: string;
  /** The project's environment the job ran with, if any. */
  deps: DepsPlan | undefined;
  /** How it was run (a local folder: where requirements.txt is). */
  recipe: StoredRecipe | undefined;
  /** Run the job again (a log panel of its own). */
  runAgain(): void;
}

export type MissingModuleOutcome = 'installed' | 'added' | 'dismissed' | 'failed' | undefined;

async function appendRequirement(uri: vscode.Uri, pkg: string): Promise<void> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) {
    const next = withRequirement(open.getText(), pkg);
    if (next === open.getText()) return;
    const edit = new vscode.WorkspaceEdit();
    edit.insert(uri, open.lineAt(open.lineCount - 1).range.end, next.slice(open.getText().length));
    await vscode.workspace.applyEdit(edit);
    await open.save();
    return;
  }
  let text = '';
  try {
    text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
  } catch {
    text = '';
  }
  const next = withRequirement(text, pkg);
  if (next !== text) await vscode.workspace.fs.writeFile(uri, Buffer.from(next, 'utf8'));
}

export async function offerMissingModule(services: KgpuServices, job: MissingModuleJob): Promise<MissingModuleOutcome> {
  const missing = missingModule(job.logTail);
  // Where Install puts it and which requirements.txt records it (src/kgpu/deps/missing-module.ts):
  // a local project's environment and file; a pod file's interpreter (its project's environment
  // or kgpu.python) and its project's requirements.txt in the pod; with kgpu.installDependencies
  // off, kgpu.python's own pip.
  const settings = services.settings.get();
  const tracked = services.jobs.runner.get(job.podId, job.jobId);
  const recipe = job.recipe ?? tracked?.recipe;
  const fix = missingModuleFix({
    deps: job.deps,
    target: recipe?.target,
    python: recipe?.python,
    cwd: tracked?.info.cwd,
    depsOff: settings.installDependencies === 'off',
  });
  if (!missing || (!fix.install && !fix.requirements)) return undefined;
  const req = fix.requirements;
  const reqFile =
    req && (req.where === 'local' ? vscode.Uri.file(req.path) : vscode.Uri.from({ scheme: 'kgpu', authority: job.podId, path: req.path }));
  const own = fix.install?.kind === 'python' ? fix.install : undefined;
  const pkg = missing.package;
  const INSTALL = vscode.l10n.t('Install');
  const ADD_AND_RUN = vscode.l10n.t('Add to requirements.txt and Run Again');
  const RUN_AGAIN = vscode.l10n.t('Run Again');
  const ADD = vscode.l10n.t('Add to requirements.txt');
  const buttons = job.deps || own ? [INSTALL, ...(reqFile ? [job.deps ? ADD_AND_RUN : ADD] : [])] : [ADD_AND_RUN];
  const choice = await vscode.window.showWarningMessage(
    vscode.l10n.t(
      "kgpu: the job failed: no module named '{0}'. Install {1} in the pod (and add it to requirements.txt)?",
      missing.module,
      pkg,
    ),
    ...buttons,
  );
  if (choice === ADD_AND_RUN && reqFile) {
    await appendRequirement(reqFile, pkg);
    services.log.info(`Added ${pkg} to ${reqFile.toString(true)}; running job ${job.jobId} again (its environment is made with it).`);
    job.runAgain();
    return 'added';
  }
  if (choice === ADD && reqFile) {
    await appendRequirement(reqFile, pkg);
    return 'added';
  }
  if (choice !== INSTALL || !fix.install) return 'dismissed';
  const plan = fix.install.kind === 'env' ? fix.install.plan : undefined;
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: installing {0} in the pod', pkg), cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        try {
          const pod = services.connections.session(job.podId).commands;
          const options = {
            signal: abort.signal,
            env: settings.env,
            onOutput: (line: string) => {
              services.log.info(`[deps] ${line}`);
              if (line.trim()) progress.report({ message: line.length > 80 ? `${line.slice(0, 77)}…` : line });
            },
          };
          if (plan) await installPackages(pod, plan, [pkg], options);
          else if (own) await installWithPython(pod, own.python, own.cwd, [pkg], options);
        } finally {
          sub.dispose();
        }
      },
    );
  } catch (e) {
    services.showError(e);
    return 'failed';
  }
  services.log.info(`Installed ${pkg} into ${plan?.venvDir ?? own?.python} on ${job.podId}.`);
  const next = await vscode.window.showInformationMessage(
    vscode.l10n.t('kgpu: {0} is installed in the pod ({1}).', pkg, plan ? path.posix.basename(plan.venvDir) : (own?.python ?? '')),
    RUN_AGAIN,
    ...(reqFile ? [ADD] : []),
  );
  if (next === ADD && reqFile) await appendRequirement(reqFile, pkg);
  if (next === RUN_AGAIN) job.runAgain();
  return 'installed';
}

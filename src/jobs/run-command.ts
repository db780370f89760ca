import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseArgumentLine } from '../kgpu/api/exec-request';
import type { RunHandle, RunFileSpec, RunTarget } from '../kgpu/jobs/job-runner';
import type { SyncResult } from '../kgpu/transfer/sync';
import { describeSkippedLinks } from '../kgpu/transfer/local-links';
import { describeStartMode } from '../kgpu/warm';
import { offerMissingModule } from '../jobs/missing-module-notification';
import { JobLogPanel, panelName } from '../platform/job-log-terminal';
import { priceTable } from '../platform/price-table';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import { jobsFor } from '../platform/jobs-service';
import type { KgpuServices } from '../platform/services';
import type { RunStarted } from '../platform/run-started';
import { launcherFor } from '../jobs/launcher-choice';
import { choosePodToRun } from '../platform/run-pod';
import { podFilePythonWithProgress } from '../platform/pod-target-python';

/**
 * `kgpu: Run Active File on GPU` (editor title ▶, ctrl+alt+g, palette, a rental's menu). The pod:
 * the one a kgpu:// file lives on, else a rental the command was invoked on, else the pod chosen
 * for this workspace (remembered), else a QuickPick of ready pods with "Rent a new GPU…". Unsaved
 * editors are saved; a local file's workspace folder is synced (only what changed) and the job
 * runs there; a kgpu:// file runs in place. The log panel opens at once and streams from byte 0.
 * The work is JobRunner.runFile (src/kgpu/jobs/job-runner.ts), the same path the benchmark measures.
 *
 * Argument (tests, e2e): `{ podId?, file?: Uri | string, args?: string[], noPrompt?: boolean }`
 * (`noPrompt` or `args` skip the arguments prompt). Resolves with `{ podId, jobId, terminalName,
 * done }` (`done` resolves with the job's final state), or undefined when cancelled.
 */
export interface RunActiveFileOptions {
  podId?: string;
  file?: vscode.Uri | string;
  args?: string[];
  noPrompt?: boolean;
  /** One process or all the pod's GPUs with torchrun (default: kgpu.launcher, the file's choice). */
  launcher?: 'python' | 'torchrun';
}

export type { RunStarted };

const ARGS_KEY = 'kgpu.runArgs';
const MAX_HISTORY = 10;

export function registerRunCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.runActiveFile', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt(); // the user asked: a cancelled passphrase may be asked for again
    try {
      return await runActiveFile(services, arg);
    } catch (e) {
      services.showError(e, { prefix: vscode.l10n.t('Could not run the file:') });
      return undefined;
    }
  });
}

function asOptions(arg: unknown): { options: RunActiveFileOptions; podArg?: unknown; uri?: vscode.Uri } {
  const args = decodeCommandArgs(arg);
  if (args.kind === 'uri') return { options: {}, uri: args.uri };
  const o = optionsOf(args) as { kind?: unknown } & RunActiveFileOptions;
  if (args.kind === 'pod' && o.kind === 'rental') return { options: {}, podArg: o }; // a Rentals row
  return { options: o, podArg: o.podId };
}

async function runActiveFile(services: KgpuServices, arg: unknown): Promise<RunStarted | undefined> {
  const t0 = performance.now();
  const { options, podArg, uri: argUri } = asOptions(arg);
  const fileUri = options.file
    ? typeof options.file === 'string'
      ? options.file.includes('://')
        ? vscode.Uri.parse(options.file)
        : vscode.Uri.file(options.file)
      : options.file
    : (argUri ?? vscode.window.activeTextEditor?.document.uri);
  if (!fileUri) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: open a Python file to run it on a GPU.'));
    return undefined;
  }
  if (fileUri.scheme === 'untitled') {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: save the file first — an untitled editor cannot be synced to the pod.'));
    return undefined;
  }
  if (fileUri.scheme !== 'file' && fileUri.scheme !== 'kgpu') {
    void vscode.window.showErrorMessage(
      vscode.l10n.t('kgpu: cannot run {0}: only local files and kgpu:// files can run on a pod.', fileUri.toString()),
    );
    return undefined;
  }
  // Save what is unsaved (the sync sends files from disk; a kgpu:// save writes to the pod).
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === fileUri.toString());
  if (doc?.isDirty && !(await doc.save())) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0} could not be saved; not running it.', path.basename(fileUri.path)));
    return undefined;
  }
  await vscode.workspace.saveAll(false);
  const tSaved = performance.now();

  const pod = await choosePodToRun(services, fileUri, podArg, 'Run');
  if (!pod) return undefined;
  const tPod = performance.now();

  const args = await argumentsFor(services, fileUri, options);
  if (!args) return undefined;
  services.log.debug(
    `Run: saved in ${(tSaved - t0).toFixed(0)} ms, pod in ${(tPod - tSaved).toFixed(0)} ms, arguments in ${(performance.now() - tPod).toFixed(0)} ms.`,
  );

  const launcher = await launcherFor(services, fileUri, pod, { explicit: options.launcher, noPrompt: options.noPrompt || !!options.args });
  if (!launcher) return undefined;

  const settings = services.settings.get();
  let target: RunTarget;
  let python = settings.python;
  if (fileUri.scheme === 'kgpu') {
    target = { kind: 'pod', path: fileUri.path };
    // The project's requirements beside the file in the pod: installed once, then reused.
    const p = await podFilePythonWithProgress(services, pod.pod_id, fileUri.path);
    if (p === undefined) return undefined;
    python = p;
  } else {
    const folder = vscode.workspace.getWorkspaceFolder(fileUri)?.uri.fsPath;
    // A file outside every workspace folder: send that file only, never its whole directory (it may be $HOME).
    target = folder
      ? { kind: 'local', folder, file: fileUri.fsPath }
      : { kind: 'local', folder: path.dirname(fileUri.fsPath), file: fileUri.fsPath, onlyThisFile: true };
  }
  const spec: Omit<RunFileSpec, 'onData' | 'onSyncProgress' | 'onReconnect'> = {
    podId: pod.pod_id,
    target,
    python,
    args,
    env: settings.env,
    exclude: settings.syncExclude,
    launcher,
  };
  const runner = jobsFor(services).runner;
  return showRunHandle(services, pod.pod_id, path.basename(fileUri.path), undefined, (sink) => runner.runFile({ ...spec, ...sink }), t0);
}

/** Arguments for the script: from the options, else a per-file prompt with history. */
async function argumentsFor(services: KgpuServices, fileUri: vscode.Uri, options: RunActiveFileOptions): Promise<string[] | undefined> {
  if (options.args) return options.args;
  if (options.noPrompt) return [];
  const key = fileUri.toString();
  const all = services.context.workspaceState.get<Record<string, string[]>>(ARGS_KEY) ?? {};
  const history = all[key] ?? [];
  const qp = vscode.window.createQuickPick<vscode.QuickPickItem>();
  qp.title = vscode.l10n.t('Arguments for {0}', path.basename(fileUri.path));
  qp.placeholder = vscode.l10n.t('Type arguments (shell-like quoting), or pick a recent set; Enter with nothing runs without arguments');
  const historyItems = history.map((h) => ({ label: h, description: vscode.l10n.t('recent') }));
  const update = (): void => {
    const typed = qp.value.trim();
    const first = typed
      ? [{ label: typed, description: vscode.l10n.t('run with these arguments') }]
      : [{ label: '', description: vscode.l10n.t('run without arguments'), alwaysShow: true }];
    qp.items = [...first, ...historyItems.filter((h) => h.label !== typed)];
  };
  update();
  const line = await new Promise<string | undefined>((resolve) => {
    qp.onDidChangeValue(update);
    qp.onDidAccept(() => {
      resolve(qp.selectedItems[0]?.label ?? qp.value.trim());
      qp.hide();
    });
    qp.onDidHide(() => resolve(undefined));
    qp.show();
  });
  qp.dispose();
  if (line === undefined) return undefined;
  const parsed = parseArgumentLine(line);
  if (parsed.error !== undefined) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', String(parsed.error)));
    return undefined;
  }
  if (line) {
    all[key] = [line, ...history.filter((h) => h !== line)].slice(0, MAX_HISTORY);
    await services.context.workspaceState.update(ARGS_KEY, all);
  }
  return parsed.argv;
}

function syncLine(r: SyncResult | undefined, remoteDir: string | undefined): string | undefined {
  if (!r || !remoteDir) return undefined;
  // Symlinks out of the folder (and loops) are never followed: say which were left out.
  const links = r.skippedLinks.length ? `; ${describeSkippedLinks(r.skippedLinks)}` : '';
  if (r.uploadedFiles === 0) return `[kgpu] ${remoteDir} is up to date (${r.skippedFiles} files checked in ${r.durationMs} ms)${links}`;
  const kb = r.uploadedBytes < 10_240 ? `${r.uploadedBytes} B` : `${(r.uploadedBytes / 1024).toFixed(0)} KiB`;
  return `[kgpu] synced ${r.uploadedFiles} changed file${r.uploadedFiles === 1 ? '' : 's'} (${kb}) to ${remoteDir} in ${r.durationMs} ms${links}`;
}

/**
 * Open a log panel for a run and start it: `start` gets the panel's sink and returns the handle
 * (runFile or rerun). The panel shows the sync result, the log from byte 0 and the footer.
 */
export async function showRunHandle(
  services: KgpuServices,
  podId: string,
  name: string,
  commandHint: { command: string; cwd: string } | undefined,
  start: (sink: Pick<RunFileSpec, 'onData' | 'onReconnect' | 'onDepsOutput'>) => RunHandle,
  t0 = performance.now(),
): Promise<RunStarted | undefined> {
  const startedAt = Date.now();
  let panel: JobLogPanel | undefined;
  const early: Buffer[] = [];
  let resolveFirst!: (ms: number | undefined) => void;
  const firstByteMs = new Promise<number | undefined>((r) => (resolveFirst = r));
  let logTail = '';
  const handle = start({
    onData: (chunk) => {
      resolveFirst(performance.now() - t0);
      logTail = (logTail + chunk.toString('utf8')).slice(-8192);
      if (panel) panel.write(chunk);
      else early.push(chunk);
    },
    onReconnect: (r) => panel?.note(`[kgpu] connection lost (${r.error.message}); resuming the log at byte ${r.offset}…`),
    // The project's dependency install (src/kgpu/deps/): progress and the installer's output.
    onDepsOutput: (line) => panel?.note(line),
  });
  const p = new JobLogPanel(podId, handle.jobId, panelName(handle.plan.name || name, startedAt), true);
  panel = p;
  p.attach(handle.stream);
  const pod = services.pods.get(podId);
  p.header(pod, { command: commandHint?.command ?? handle.plan.command, cwd: commandHint?.cwd ?? handle.plan.cwd, startedAt });
  if (handle.plan.remoteDir) p.note(`[kgpu] syncing to ${handle.plan.remoteDir}…`);
  for (const c of early.splice(0)) p.write(c);
  services.log.info(`Run ${handle.plan.command} in ${handle.plan.cwd} on ${podId} (job ${handle.jobId}).`);

  const done = handle.done.then(
    (r) => {
      p.finish(r, services.pods.get(podId) ?? pod, priceTable(services));
      // Died of ModuleNotFoundError: one notification offering to install the module.
      if (r.job.status.state === 'exited' && r.job.status.exitCode !== 0) {
        const runner = jobsFor(services).runner;
        void handle.deps.then((deps) =>
          offerMissingModule(services, {
            podId,
            jobId: handle.jobId,
            logTail,
            deps: deps?.plan,
            recipe: runner.get(podId, handle.jobId)?.recipe,
            runAgain: () =>
              void showRunHandle(services, podId, name, commandHint, (sink) =>
                runner.rerun(podId, handle.jobId, { ...sink, env: services.settings.get().env }),
              ).catch((e: unknown) => services.showError(e, { prefix: vscode.l10n.t('Could not run the file:') })),
          }),
        );
      }
      return { state: r.job.status.state, exitCode: r.job.status.state === 'exited' ? r.job.status.exitCode : undefined };
    },
    (e: unknown) => {
      p.fail(e);
      throw e;
    },
  );
  done.catch(() => undefined);
  void done.then(
    () => resolveFirst(undefined),
    () => resolveFirst(undefined),
  );
  try {
    const synced = await handle.synced;
    const line = syncLine(synced, handle.plan.remoteDir);
    if (line) p.note(line);
    await handle.started;
    const deps = await handle.deps;
    if (deps)
      p.note(
        `[kgpu] ${deps.state === 'installed' ? 'installed' : 'using'} ${deps.plan.files.join(', ')} in ${deps.plan.venvDir}${deps.state === 'reused' ? ' (unchanged)' : ''}`,
      );
    const mode = await handle.startMode;
    if (mode) {
      p.note(`[kgpu] ${describeStartMode(mode)}`);
      services.log.info(`Job ${handle.jobId}: ${describeStartMode(mode)}.`);
    }
    void firstByteMs.then(
      (ms) => ms !== undefined && services.log.info(`Job ${handle.jobId}: first log byte in the panel ${ms.toFixed(0)} ms after Run.`),
    );
  } catch (e) {
    // The panel says what failed; the notification too.
    await done.catch(() => undefined);
    throw e;
  }
  return { podId, jobId: handle.jobId, terminalName: p.terminal.name, done, text: () => p.written, firstByteMs };
}

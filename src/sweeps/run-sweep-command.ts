import * as path from 'node:path';
import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import { formatRunCredits } from '../kgpu/jobs/job-log-text';
import { podRatePerHour } from '../kgpu/model/cost';
import type { RunTarget } from '../kgpu/jobs/job-runner';
import { parseSweepLine, SweepSpecError } from '../kgpu/sweeps/grid';
import { sweepFilesBeside } from '../kgpu/sweeps/sweep-file';
import { sweepRatePerHour } from '../kgpu/sweeps/sweep-cost';
import { largeFiles, TransitFanOut } from '../kgpu/sweeps/fanout';
import { newSweepPlan, type SweepPlan } from '../kgpu/sweeps/sweep';
import { priceTable } from '../platform/price-table';
import { decodeCommandArgs, optionsOf } from '../platform/command-args';
import type { KgpuServices } from '../platform/services';
import { sweepsFor } from './sweeps-hub';

/**
 * `kgpu: Run Sweep…` on the active file (issue 23): the argument sets (a typed grid such as
 * `--lr 1e-3,3e-4 --bs 32,64`, or the sweep.json / sweep.yaml beside the script), the ready pods to use
 * (several; their hourly rate shown, with what one hour of the sweep costs), optionally one more
 * rented for it (kgpu: Rent a GPU…, which shows its price and checks the GPU cap and the balance),
 * and "Release the pods when the sweep ends"; then every set runs as a normal job, queued per pod (src/kgpu/sweeps/).
 *
 * Argument (tests, e2e): `{ file, pods: string[], grid?: string, runs?: string[][],
 * releasePodsWhenDone?: boolean }` skips the prompts. Resolves with `{ sweepId, done, plan() }`
 * (`done` resolves when the sweep has ended) or undefined when cancelled.
 */
export interface RunSweepOptions {
  file?: vscode.Uri | string;
  pods?: string[];
  grid?: string;
  runs?: string[][];
  releasePodsWhenDone?: boolean;
}

export interface SweepStarted {
  sweepId: string;
  done: Promise<void>;
  plan(): SweepPlan;
}

const GRID_KEY = 'kgpu.sweepGrid';

export function registerRunSweepCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.runSweep', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt();
    try {
      const decoded = decodeCommandArgs(arg);
      return await runSweep(services, decoded.kind === 'uri' ? { file: decoded.uri } : (optionsOf(decoded) as RunSweepOptions));
    } catch (e) {
      if (e instanceof SweepSpecError) void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', e.message));
      else services.showError(e, { prefix: vscode.l10n.t('Could not start the sweep:') });
      return undefined;
    }
  });
}

async function runSweep(services: KgpuServices, o: RunSweepOptions): Promise<SweepStarted | undefined> {
  const fileUri = o.file ? (typeof o.file === 'string' ? vscode.Uri.file(o.file) : o.file) : vscode.window.activeTextEditor?.document.uri;
  if (!fileUri || fileUri.scheme !== 'file') {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: open a local Python file to sweep it (its folder is synced to each pod).'));
    return undefined;
  }
  await vscode.workspace.saveAll(false);
  const name = path.basename(fileUri.fsPath);

  // 1. The argument sets.
  let runs = o.runs;
  if (!runs && o.grid !== undefined) runs = parseSweepLine(o.grid).runs;
  if (!runs) {
    // sweep.json / sweep.yaml / sweep.yml beside the script (a bad one: its error, with the line).
    const files = await sweepFilesBeside(fileUri.fsPath);
    const remembered = services.context.workspaceState.get<Record<string, string>>(GRID_KEY)?.[fileUri.toString()] ?? '';
    const qp = await vscode.window.showQuickPick(
      [
        ...files.map((f) => ({
          label: `$(json) ${f.name}`,
          description: vscode.l10n.t('{0} argument sets beside {1}', f.runs.length, name),
          runs: f.runs as string[][] | undefined,
        })),
        {
          label: vscode.l10n.t('$(edit) Type a grid…'),
          description: vscode.l10n.t('e.g. --lr 1e-3,3e-4 --bs 32,64 (commas: alternatives)'),
          runs: undefined,
        },
      ],
      { title: vscode.l10n.t('Sweep {0}: which argument sets?', name) },
    );
    if (!qp) return undefined;
    if (qp.runs) runs = qp.runs;
    else {
      const line = await vscode.window.showInputBox({
        title: vscode.l10n.t('Sweep {0}: the grid', name),
        value: remembered,
        prompt: vscode.l10n.t('Arguments as for Run; a value with commas is a list of alternatives, every combination runs'),
        validateInput: (v) => {
          try {
            const n = parseSweepLine(v).runs.length;
            return n > 0 ? undefined : vscode.l10n.t('No argument sets.');
          } catch (e) {
            return e instanceof Error ? e.message : String(e);
          }
        },
      });
      if (line === undefined) return undefined;
      runs = parseSweepLine(line).runs;
      await services.context.workspaceState.update(GRID_KEY, {
        ...(services.context.workspaceState.get<Record<string, string>>(GRID_KEY) ?? {}),
        [fileUri.toString()]: line,
      });
    }
  }
  if (!runs?.length) return undefined;

  // 2. The pods.
  const ready = services.pods.pods.filter((p) => isLivePod(p) && p.ready);
  let pods: Pod[];
  let release = !!o.releasePodsWhenDone;
  const prices = priceTable(services);
  if (o.pods) {
    pods = o.pods.map((id) => services.pods.get(id)).filter((p): p is Pod => !!p && isLivePod(p) && p.ready);
    if (pods.length !== o.pods.length) throw new Error(`Not every pod given is ready: ${o.pods.join(', ')}.`);
  } else {
    if (ready.length === 0) {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('kgpu: a sweep runs on your ready pods, and you have none. Rent GPUs first (kgpu: Rent a GPU…).'),
      );
      return undefined;
    }
    const RELEASE = vscode.l10n.t('$(trash) Release these pods when the sweep ends');
    const RENT = vscode.l10n.t('$(add) Rent another GPU for this sweep…');
    const items = [
      ...ready.map((p) => {
        const rate = podRatePerHour(p, prices);
        return {
          label: `$(vm-running) ${p.name}`,
          description: `${p.gpu_model} × ${p.gpu_count}${rate !== undefined ? ` · ${formatRunCredits(rate)}/h` : ''}`,
          pod: p as Pod | undefined,
          picked: true,
        };
      }),
      {
        label: RENT,
        description: vscode.l10n.t('kgpu: Rent a GPU… (its price, your GPU cap and balance are checked there)'),
        pod: undefined,
        picked: false,
      },
      { label: RELEASE, description: vscode.l10n.t('stops their billing once the last run has ended'), pod: undefined, picked: false },
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: vscode.l10n.t('Sweep {0}: {1} runs on which pods?', name, runs.length),
      canPickMany: true,
      placeHolder: vscode.l10n.t('Each pod runs one argument set at a time'),
    });
    if (!picked) return undefined;
    pods = picked.map((i) => i.pod).filter((p): p is Pod => !!p);
    release = picked.some((i) => i.label === RELEASE);
    if (picked.some((i) => i.label === RENT)) {
      const podId = await vscode.commands.executeCommand<string | undefined>('kgpu.rent');
      if (podId) {
        const pod = await vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: vscode.l10n.t('kgpu: waiting for {0} to be ready for the sweep…', podId),
            cancellable: true,
          },
          (_p, token) => {
            const abort = new AbortController();
            token.onCancellationRequested(() => abort.abort());
            return services.client().waitUntilReady(podId, { signal: abort.signal });
          },
        );
        await services.pods.refresh();
        pods.push(services.pods.get(podId) ?? pod);
      }
    }
    if (pods.length === 0) return undefined;
  }

  // 3. What it costs while it runs (the pods bill per minute whether they run a job or not).
  const perHour = sweepRatePerHour(pods, prices);
  if (!o.pods) {
    const n = runs.length;
    const rate = formatRunCredits(perHour);
    const start = vscode.l10n.t('Start Sweep');
    const go = await vscode.window.showInformationMessage(
      pods.length === 1
        ? release
          ? vscode.l10n.t(
              'Run {0} argument sets of {1} on 1 pod? Together they bill {2} per hour while the sweep runs, and are released when it ends.',
              n,
              name,
              rate,
            )
          : vscode.l10n.t('Run {0} argument sets of {1} on 1 pod? Together they bill {2} per hour while the sweep runs.', n, name, rate)
        : release
          ? vscode.l10n.t(
              'Run {0} argument sets of {1} on {2} pods? Together they bill {3} per hour while the sweep runs, and are released when it ends.',
              n,
              name,
              pods.length,
              rate,
            )
          : vscode.l10n.t(
              'Run {0} argument sets of {1} on {2} pods? Together they bill {3} per hour while the sweep runs.',
              n,
              name,
              pods.length,
              rate,
            ),
      { modal: true },
      start,
    );
    if (go !== start) return undefined;
  }

  const folder = vscode.workspace.getWorkspaceFolder(fileUri)?.uri.fsPath;
  const target: Extract<RunTarget, { kind: 'local' }> = folder
    ? { kind: 'local', folder, file: fileUri.fsPath }
    : { kind: 'local', folder: path.dirname(fileUri.fsPath), file: fileUri.fsPath, onlyThisFile: true };
  const settings = services.settings.get();
  // Files above the transit threshold: one transit object each, fetched by every pod.
  const large = await largeFiles(target.folder, settings.transitObjectThresholdBytes, settings.syncExclude);
  const inFolder = target.onlyThisFile ? large.filter((f) => path.join(target.folder, f.rel) === target.file) : large;
  const fanOut = inFolder.length ? new TransitFanOut(services.client(), inFolder) : undefined;
  const exclude = [...settings.syncExclude, ...(fanOut?.excludes() ?? [])];
  const plan = newSweepPlan({
    name,
    recipe: { target, python: settings.python, exclude },
    pods: pods.map((p) => p.pod_id),
    runs,
    releasePodsWhenDone: release,
  });
  const sweep = sweepsFor(services).start(plan, fanOut);
  services.log.info(`Sweep ${plan.id}: ${runs.length} runs of ${name} on ${plan.pods.join(', ')}.`);
  void vscode.commands.executeCommand('kgpu.sweeps.focus').then(undefined, () => undefined);
  return { sweepId: plan.id, done: sweep.done, plan: () => sweep.plan };
}

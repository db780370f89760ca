import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Pod } from '../kgpu/api/api-types';
import { resolveLauncher, type Launcher, type LauncherChoice } from '../kgpu/launch/torchrun';
import type { KgpuServices } from '../platform/services';

/**
 * Which launcher Run uses on this pod (issue 23): `kgpu.launcher` (auto | python | torchrun); under
 * `auto` a pod with several GPUs offers "All N GPUs with torchrun" or one process, once per file —
 * the answer is remembered (workspaceState) and used without asking from then on. `explicit` (the
 * command's argument, tests) wins; without a remembered answer a run that must not prompt
 * (`noPrompt`) uses one process, as before this setting existed. Undefined: the user cancelled.
 */
const CHOICE_KEY = 'kgpu.runLauncher';

export async function launcherFor(
  services: KgpuServices,
  fileUri: vscode.Uri,
  pod: Pod,
  o: { explicit?: LauncherChoice; noPrompt?: boolean },
): Promise<Launcher | undefined> {
  const n = Math.max(1, pod.gpu_count || 1);
  if (o.explicit === 'torchrun') return { kind: 'torchrun', nprocPerNode: n };
  if (o.explicit === 'python') return { kind: 'python' };
  const all = services.context.workspaceState.get<Record<string, LauncherChoice>>(CHOICE_KEY) ?? {};
  const key = fileUri.toString();
  const resolved = resolveLauncher(services.settings.get().launcher, n, all[key]);
  if (resolved) return resolved;
  if (o.noPrompt) return { kind: 'python' };
  const name = path.basename(fileUri.path);
  const picked = await vscode.window.showQuickPick(
    [
      {
        label: `$(server-process) ${vscode.l10n.t('All {0} GPUs with torchrun', n)}`,
        description: `torchrun --standalone --nproc_per_node=${n} ${name}`, // l10n-ignore: a command line
        detail: vscode.l10n.t('One job, one worker per GPU (torch.distributed); the log shows each line with its rank.'),
        choice: 'torchrun' as const,
      },
      {
        label: `$(play) ${vscode.l10n.t('One process')}`,
        description: `python ${name}`, // l10n-ignore: a command line
        detail: vscode.l10n.t('The script sees every GPU and decides itself how to use them.'),
        choice: 'python' as const,
      },
    ],
    {
      title: vscode.l10n.t('Run {0} on {1} ({2} × {3})', name, pod.name, pod.gpu_model, n),
      placeHolder: vscode.l10n.t('Remembered for this file (kgpu.launcher sets it for every file)'),
    },
  );
  if (!picked) return undefined;
  await services.context.workspaceState.update(CHOICE_KEY, { ...all, [key]: picked.choice });
  return picked.choice === 'torchrun' ? { kind: 'torchrun', nprocPerNode: n } : { kind: 'python' };
}

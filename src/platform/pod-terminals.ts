import * as vscode from 'vscode';
import path from 'node:path';
import type { FolderMapping } from '../kgpu/links/traceback-links';
import type { StoredRecipe } from '../kgpu/jobs/job-runner';
import { planRun } from '../kgpu/jobs/run-plan';
import { jobsFor } from './jobs-service';
import { jobLogPanelFor } from './job-log-panels';
import type { KgpuServices } from './services';

/** What a terminal that shows a pod's output knows: the pod, the folder its commands ran in, and
 *  which pod folders are copies of local folders. */
export interface PodTerminalInfo {
  podId: string;
  cwd?: string;
  mappings: FolderMapping[];
}

/** Each window's (services') terminals by name. */
const registries = new WeakMap<KgpuServices, Map<string, () => PodTerminalInfo | undefined>>();

function terminalsOf(services: KgpuServices): Map<string, () => PodTerminalInfo | undefined> {
  let byName = registries.get(services);
  if (!byName) registries.set(services, (byName = new Map()));
  return byName;
}

/** Terminals other than job log panels (a kgpu task's, which the workbench creates and names for
 *  the task) say which pod they show, by terminal name while they run. */
export function registerPodTerminal(services: KgpuServices, name: string, info: () => PodTerminalInfo | undefined): vscode.Disposable {
  const byName = terminalsOf(services);
  byName.set(name, info);
  return new vscode.Disposable(() => {
    if (byName.get(name) === info) byName.delete(name);
  });
}

/** Each local workspace folder is synced by Run to /workspace/<its name>. */
export function workspaceMappings(remoteRoot = '/workspace'): FolderMapping[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === 'file')
    .map((f) => ({ remoteDir: path.posix.join(remoteRoot, path.basename(f.uri.fsPath)), localDir: f.uri.fsPath }));
}

/** The folder a job's recipe synced, first: it is the one the job's paths come from. */
export function recipeMappings(recipe: StoredRecipe | undefined): FolderMapping[] {
  if (!recipe || recipe.target.kind !== 'local') return [];
  const plan = planRun({ ...recipe, env: {} });
  return plan.remoteDir ? [{ remoteDir: plan.remoteDir, localDir: recipe.target.folder }] : [];
}

export function podTerminalInfo(services: KgpuServices, terminal: vscode.Terminal): PodTerminalInfo | undefined {
  const own = registries.get(services)?.get(terminal.name)?.();
  if (own) return own;
  const panel = jobLogPanelFor(terminal);
  if (!panel) return undefined;
  const tracked = jobsFor(services).runner.get(panel.podId, panel.jobId);
  return { podId: panel.podId, cwd: tracked?.info.cwd, mappings: [...recipeMappings(tracked?.recipe), ...workspaceMappings()] };
}

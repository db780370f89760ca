import * as vscode from 'vscode';
import { choosePodToRun } from '../platform/run-pod';
import type { KgpuServices } from '../platform/services';

/**
 * The `kgpu` debug type's configurations (launch.json):
 *   { "type": "kgpu", "request": "launch", "name": "…", "program": "${file}", "args": [], "env": {}, "pod": "<optional id>",
 *     "justMyCode": true, "onDisconnect": "stop" | "keepRunning", "launcher": "python" | "torchrun" }
 *   { "type": "kgpu", "request": "attach", "name": "…", "port": 5678, "pod": "<optional id>" }
 * Resolution (after variables are substituted) saves unsaved editors and settles the pod: the
 * pod a kgpu:// program lives on, else the configuration's `pod`, else Run's choice (the pod Run
 * uses for this workspace, else a QuickPick of ready and starting pods: a pod still starting is
 * waited for). The interpreter is kgpu.python — never a
 * configuration field: a folder's launch.json cannot pick what runs.
 */
export interface KgpuDebugConfiguration extends vscode.DebugConfiguration {
  program?: string;
  args?: string[];
  env?: Record<string, string>;
  pod?: string;
  port?: number;
  stopOnEntry?: boolean;
  justMyCode?: boolean;
  /** launch: what a dropped connection does to the program (default "stop"). */
  onDisconnect?: 'stop' | 'keepRunning';
  /** launch: one process, or torchrun with one worker per GPU (default: as Run on this file). */
  launcher?: 'python' | 'torchrun';
}

export const DEBUG_TYPE = 'kgpu';

/** A launch.json program value as a Uri: a path, or a kgpu:// URI. */
export function programUri(program: string): vscode.Uri {
  return /^[a-z][a-z0-9+.-]+:\/\//i.test(program) ? vscode.Uri.parse(program) : vscode.Uri.file(program);
}

export class KgpuDebugConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(private readonly services: KgpuServices) {}

  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    // The same English text as the manifest's initial configuration (%debugger.kgpu.initialConfiguration.name%).
    return [{ type: DEBUG_TYPE, request: 'launch', name: vscode.l10n.t('kgpu: Debug Current File on GPU'), program: '${file}', args: [] }];
  }

  /** F5 with no launch.json on a Python file: debug it on the GPU. */
  resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.DebugConfiguration | undefined {
    if (!config.type && !config.request && !config.name) {
      const doc = vscode.window.activeTextEditor?.document;
      if (doc?.languageId !== 'python') return undefined;
      return { type: DEBUG_TYPE, request: 'launch', name: vscode.l10n.t('kgpu: Debug Current File on GPU'), program: '${file}' };
    }
    return config;
  }

  async resolveDebugConfigurationWithSubstitutedVariables(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const c = config as KgpuDebugConfiguration;
    if (c.request === 'launch') {
      if (typeof c.program !== 'string' || !c.program) {
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: the debug configuration needs "program" (e.g. "${file}").'));
        return undefined;
      }
      const uri = programUri(c.program);
      if (uri.scheme !== 'file' && uri.scheme !== 'kgpu') {
        void vscode.window.showErrorMessage(
          vscode.l10n.t('kgpu: cannot debug {0}: only local files and kgpu:// files can run on a pod.', c.program),
        );
        return undefined;
      }
      if (c.args !== undefined && (!Array.isArray(c.args) || c.args.some((a) => typeof a !== 'string'))) {
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: "args" must be a list of strings.'));
        return undefined;
      }
      if (c.onDisconnect !== undefined && c.onDisconnect !== 'stop' && c.onDisconnect !== 'keepRunning') {
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: "onDisconnect" must be "stop" or "keepRunning".'));
        return undefined;
      }
      if (c.launcher !== undefined && c.launcher !== 'python' && c.launcher !== 'torchrun') {
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: "launcher" must be "python" or "torchrun".'));
        return undefined;
      }
      await vscode.workspace.saveAll(false);
      const podId = await this.pod(c, uri);
      if (!podId) return undefined;
      return { ...c, pod: podId };
    }
    if (c.request === 'attach') {
      const podId = await this.pod(c, undefined);
      if (!podId) return undefined;
      return { ...c, pod: podId, port: c.port ?? 5678 };
    }
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: "request" must be "launch" or "attach" (got {0}).', String(c.request)));
    return undefined;
  }

  /** The pod: the configuration's `pod` (waiting for it when it is still starting), else Run's choice. */
  private async pod(c: KgpuDebugConfiguration, uri: vscode.Uri | undefined): Promise<string | undefined> {
    const verb = c.request === 'attach' ? 'Attach' : 'Debug';
    return (await choosePodToRun(this.services, uri, typeof c.pod === 'string' && c.pod ? c.pod : undefined, verb))?.pod_id;
  }
}

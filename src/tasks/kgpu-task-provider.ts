import * as vscode from 'vscode';
import path from 'node:path';
import type { PodCommands } from '../kgpu/ssh/pod-commands';
import { runPodTask, type KgpuTaskDefinition } from '../kgpu/tasks/pod-task';
import { errorMessage } from '../kgpu/api/error-dedup';
import { registerPodTerminal } from '../platform/pod-terminals';
import type { KgpuServices } from '../platform/services';

export const KGPU_TASK_TYPE = 'kgpu';

/**
 * The `kgpu` task type: `{"type": "kgpu", "command": "pytest -q", "pod": "<id or name>", "cwd": "…"}`
 * in tasks.json runs the line in the pod through a Pseudoterminal (output streams, the exit code is
 * the task's, Ctrl+C or Terminate Task stops the command in the pod). Its terminal's tracebacks are
 * links (src/links/), and the `$kgpu-python` problem matcher maps /workspace/<folder>/… paths to
 * the workspace folder. Tasks need a trusted workspace (VS Code does not run tasks in Restricted Mode).
 */
export class KgpuTaskProvider implements vscode.TaskProvider {
  constructor(private readonly services: KgpuServices) {}

  provideTasks(): vscode.Task[] {
    return [];
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const def = task.definition as KgpuTaskDefinition;
    if (typeof def.command !== 'string' || !def.command.trim()) return undefined;
    const folder = task.scope && typeof task.scope === 'object' ? task.scope : vscode.workspace.workspaceFolders?.[0];
    const resolved = new vscode.Task(
      def,
      task.scope ?? vscode.TaskScope.Workspace,
      task.name,
      KGPU_TASK_TYPE,
      new vscode.CustomExecution(async (d) => new PodTaskTerminal(this.services, d as KgpuTaskDefinition, folder, task.name)),
      task.problemMatchers,
    );
    resolved.presentationOptions = task.presentationOptions;
    resolved.group = task.group;
    return resolved;
  }
}

class PodTaskTerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly abort = new AbortController();
  private link: vscode.Disposable | undefined;

  constructor(
    private readonly services: KgpuServices,
    private readonly def: KgpuTaskDefinition,
    private readonly folder: vscode.WorkspaceFolder | undefined,
    private readonly name: string,
  ) {}

  open(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    const out = (t: string): void => this.writeEmitter.fire(t);
    let code = 1;
    try {
      const byName = this.def.pod ? this.services.pods.pods.find((p) => p.name === this.def.pod) : undefined;
      const pod = await this.services.pickPod(byName?.pod_id ?? this.def.pod, {
        ready: true,
        title: vscode.l10n.t('Run the task "{0}" on which pod?', this.def.command),
      });
      if (!pod) {
        out(`\x1b[31m[kgpu] ${vscode.l10n.t('no ready pod to run the task on.')}\x1b[0m\r\n`);
        return;
      }
      const local = this.folder?.uri.scheme === 'file' ? this.folder.uri.fsPath : undefined;
      const defaultCwd = local ? path.posix.join('/workspace', path.basename(local)) : undefined;
      const info = () => ({
        podId: pod.pod_id,
        cwd: this.def.cwd ?? defaultCwd,
        mappings: local && defaultCwd ? [{ remoteDir: defaultCwd, localDir: local }] : [],
      });
      // The workbench names a task's terminal after the task ("Task - <label>" in older versions).
      this.link = vscode.Disposable.from(
        registerPodTerminal(this.services, this.name, info),
        registerPodTerminal(this.services, `Task - ${this.name}`, info),
      );
      out(`\x1b[2m[kgpu] ${pod.name} (${pod.gpu_model}): ${this.def.command}\x1b[0m\r\n`);
      const commands: PodCommands = this.services.connections.session(pod.pod_id).commands;
      const r = await runPodTask(
        commands,
        { command: this.def.command, cwd: this.def.cwd, defaultCwd },
        { write: out, signal: this.abort.signal },
      );
      if ('exitCode' in r) {
        code = r.exitCode;
        out(`\x1b[2m[kgpu] ${vscode.l10n.t('exit code {0}', r.exitCode)}\x1b[0m\r\n`);
      } else if ('signal' in r) out(`\x1b[2m[kgpu] ${vscode.l10n.t('stopped by {0}', r.signal)}\x1b[0m\r\n`);
      else out(`\x1b[2m[kgpu] ${vscode.l10n.t('cancelled; the command was stopped in the pod')}\x1b[0m\r\n`);
    } catch (e) {
      out(`\x1b[31m[kgpu] ${errorMessage(e).replace(/\n/g, '\r\n')}\x1b[0m\r\n`);
    } finally {
      this.closeEmitter.fire(code);
    }
  }

  handleInput(data: string): void {
    if (data === '\x03') this.abort.abort();
  }

  close(): void {
    this.abort.abort();
    this.link?.dispose();
  }
}

export function registerTasks(services: KgpuServices): vscode.Disposable {
  return vscode.tasks.registerTaskProvider(KGPU_TASK_TYPE, new KgpuTaskProvider(services));
}

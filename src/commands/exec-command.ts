import * as vscode from 'vscode';
import {
  EXEC_DEFAULT_TIMEOUT_S,
  ExecInputError,
  formatExecReport,
  parseCommandLine,
  runExec,
  type ExecOutcome,
} from '../kgpu/api/exec-request';
import type { KgpuServices } from '../platform/services';

/**
 * `kgpu: Run Command…` — a one-shot `POST /pods/{id}/exec`: the typed line is parsed into an argv
 * (shell-like quoting, no shell: pipes and redirections are refused with a `bash -c '…'` hint),
 * run under a cancellable progress notification, and stdout/stderr, the exit code and duration go
 * to the "kgpu: exec" output channel. Truncation at 1 MiB and the timeout are said plainly,
 * pointing to the terminal. Argument (tests): `{podId, command: string | string[], stdin?,
 * timeoutSeconds?}` skips the prompts; resolves with the outcome (undefined when cancelled/refused).
 */
export interface ExecCommandOptions {
  podId?: string;
  command?: string | string[];
  stdin?: string;
  timeoutSeconds?: number;
}

const HISTORY_KEY = 'kgpu.execHistory';

export function registerExecCommand(services: KgpuServices): vscode.Disposable {
  let channel: vscode.OutputChannel | undefined;
  const output = (): vscode.OutputChannel => (channel ??= vscode.window.createOutputChannel('kgpu: exec'));
  const command = vscode.commands.registerCommand('kgpu.exec', async (arg?: unknown) => {
    const o: ExecCommandOptions = arg && typeof arg === 'object' && !('kind' in arg) ? (arg as ExecCommandOptions) : {};
    const pod = await services.pickPod(o.podId ?? arg, { ready: true, title: 'Run a command on which pod?' });
    if (!pod) return undefined;
    let argv: string[];
    if (Array.isArray(o.command)) argv = o.command;
    else {
      const history = services.context.workspaceState.get<string[]>(HISTORY_KEY) ?? [];
      const line =
        o.command ??
        (await vscode.window.showInputBox({
          title: `Run a command on ${pod.name}`,
          prompt:
            "One-shot, no shell, up to 60 s and 1 MiB of output (use the terminal for more). E.g. nvidia-smi, or bash -c 'ls | wc -l'",
          value: history[0] ?? '',
          validateInput: (v) => (v.trim() ? parseCommandLine(v).error : undefined),
        }));
      if (line === undefined) return undefined;
      const parsed = parseCommandLine(line);
      if (!parsed.argv) {
        void vscode.window.showErrorMessage(`kgpu: ${parsed.error}`);
        return undefined;
      }
      argv = parsed.argv;
      if (o.command === undefined)
        await services.context.workspaceState.update(HISTORY_KEY, [line, ...history.filter((h) => h !== line)].slice(0, 20));
    }
    const timeoutSeconds = o.timeoutSeconds ?? EXEC_DEFAULT_TIMEOUT_S;
    let outcome: ExecOutcome;
    try {
      outcome = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `kgpu: running ${argv[0]} on ${pod.name}…`, cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return runExec(services.client(), pod.pod_id, { argv, stdin: o.stdin, timeoutSeconds }, abort.signal);
        },
      );
    } catch (e) {
      if (e instanceof ExecInputError) void vscode.window.showErrorMessage(`kgpu: ${e.message}`);
      else services.showError(e, { prefix: `Could not run ${argv[0]} on ${pod.name}:` });
      return undefined;
    }
    const out = output();
    out.append(formatExecReport(`${pod.name}, ${pod.pod_id}`, argv, outcome));
    out.show(true);
    const msg = `kgpu: ${argv[0]} on ${pod.name} — ${outcome.summary}.`;
    if (outcome.notes.length) {
      void vscode.window
        .showWarningMessage(`${msg} ${outcome.notes.join(' ')}`, 'Open Terminal')
        .then((a) => a && vscode.commands.executeCommand('kgpu.openTerminal', pod.pod_id));
    } else if (outcome.response.exit_code !== 0) {
      void vscode.window.showWarningMessage(msg);
    }
    return outcome;
  });
  return new vscode.Disposable(() => {
    command.dispose();
    channel?.dispose();
  });
}

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
    const pod = await services.pickPod(o.podId ?? arg, { ready: true, title: vscode.l10n.t('Run a command on which pod?') });
    if (!pod) return undefined;
    let argv: string[];
    if (Array.isArray(o.command)) argv = o.command;
    else {
      const history = services.context.workspaceState.get<string[]>(HISTORY_KEY) ?? [];
      const line =
        o.command ??
        (await vscode.window.showInputBox({
          title: vscode.l10n.t('Run a command on {0}', pod.name),
          prompt: vscode.l10n.t(
            "One-shot, no shell, up to 60 s and 1 MiB of output (use the terminal for more). E.g. nvidia-smi, or bash -c 'ls | wc -l'",
          ),
          value: history[0] ?? '',
          validateInput: (v) => (v.trim() ? parseCommandLine(v).error : undefined),
        }));
      if (line === undefined) return undefined;
      const parsed = parseCommandLine(line);
      if (!parsed.argv) {
        void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', String(parsed.error)));
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
        {
          location: vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('kgpu: running {0} on {1}…', argv[0], pod.name),
          cancellable: true,
        },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return runExec(services.client(), pod.pod_id, { argv, stdin: o.stdin, timeoutSeconds }, abort.signal);
        },
      );
    } catch (e) {
      if (e instanceof ExecInputError) void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', e.message));
      else services.showError(e, { prefix: vscode.l10n.t('Could not run {0} on {1}:', argv[0], pod.name) });
      return undefined;
    }
    const out = output();
    out.append(formatExecReport(`${pod.name}, ${pod.pod_id}`, argv, outcome));
    out.show(true);
    const msg = vscode.l10n.t('kgpu: {0} on {1} — {2}.', argv[0], pod.name, outcome.summary);
    if (outcome.notes.length) {
      void vscode.window
        .showWarningMessage(`${msg} ${outcome.notes.join(' ')}`, vscode.l10n.t('Open Terminal'))
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

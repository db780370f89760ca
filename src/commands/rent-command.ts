import * as vscode from 'vscode';
import { KgpuApiError, isAbortError } from '../kgpu/api/api-error';
import type { GpuModel, RentRequest } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { safeBurn } from '../kgpu/model/account-view-model';
import {
  DEFAULT_NAME,
  balancePrecheck,
  buildRentRequest,
  remainingGpuCap,
  summarizeRequest,
  type RentAnswers,
} from '../kgpu/model/rent-options';
import { PodEndedError } from '../kgpu/api/wait-ready';
import { releasePod } from './release-command';
import type { KgpuServices } from '../platform/services';
import { pollUntilReady } from '../platform/starting-pod';
import { runWizard } from './rent-wizard';

/**
 * `kgpu: Rent GPU…`: model → GPU count → optional advanced fields (validated as you type) →
 * balance pre-check and confirmation → POST /pods (your kgpu.sshIdentityFile public key, or a key
 * the server mints, kept in SecretStorage) → a cancellable progress notification until ready.
 *
 * Argument: a gpu_model string or GPU Models row (pre-selects the model), or RentOptions:
 *   executeCommand('kgpu.rent', { gpu_model: 'rtx3090', gpu_count: 1, name: 'e2e', yes: true })
 * `yes` skips every prompt; `wait: false` returns right after the POST. Resolves with the pod id
 * (undefined when cancelled or failed).
 */
export interface RentOptions extends RentAnswers {
  yes?: boolean;
  wait?: boolean;
}

export function registerRentCommand(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.rent', (arg?: unknown) => rent(services, toOptions(arg)));
}

function toOptions(arg: unknown): RentOptions {
  if (typeof arg === 'string') return { gpu_model: arg };
  if (arg && typeof arg === 'object') {
    const node = arg as { kind?: unknown; model?: GpuModel };
    if (node.kind === 'gpuModel' && node.model) return { gpu_model: node.model.gpu_model };
    return { ...(arg as RentOptions) };
  }
  return {};
}

async function rent(services: KgpuServices, opts: RentOptions): Promise<string | undefined> {
  if (!services.auth.signedIn) {
    if (opts.yes) {
      void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: sign in to rent a GPU.'));
      return undefined;
    }
    const a = await vscode.window.showInformationMessage(vscode.l10n.t('kgpu: sign in to rent a GPU.'), vscode.l10n.t('Sign In'));
    if (!a || !(await vscode.commands.executeCommand<boolean>('kgpu.signIn'))) return undefined;
  }
  await services.pods.refresh();
  const models = services.pods.gpuModels;
  if (!models) {
    services.showError(services.pods.lastError?.error ?? new Error(vscode.l10n.t('The GPU menu could not be loaded.')), {
      prefix: vscode.l10n.t('Cannot rent:'),
    });
    return undefined;
  }
  const cap = remainingGpuCap(services.pods.allPods, services.pods.me);
  const answers = opts.yes ? { ...opts } : await runWizard(models, cap, opts);
  if (!answers) return undefined;

  const built = buildRentRequest(answers, { models, remainingCap: cap });
  if (!built.request) {
    void vscode.window
      .showErrorMessage(vscode.l10n.t('kgpu: cannot rent — {0}', built.errors.join(' ')), ...(opts.yes ? [] : [vscode.l10n.t('Change…')]))
      .then((a) => {
        if (a) void vscode.commands.executeCommand('kgpu.rent', { ...answers, yes: false });
      });
    return undefined;
  }
  const request = built.request;
  const model = models.find((m) => m.gpu_model === request.gpu_model)!;

  // Balance pre-check with the cost per hour.
  let balance: number;
  try {
    balance = (await services.client().getBalance()).credits;
  } catch (e) {
    services.showError(e, { prefix: vscode.l10n.t('Cannot check your balance:') });
    return undefined;
  }
  const check = balancePrecheck(balance, model.price_per_hour_credits, request.gpu_count ?? 1, safeBurn(services.pods.livePods));
  if (!check.ok) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', check.message));
    return undefined;
  }
  if (!opts.yes) {
    const rentButton = vscode.l10n.t('Rent');
    const go = await vscode.window.showInformationMessage(
      vscode.l10n.t('Rent {0} × {1}?', String(request.gpu_model), String(request.gpu_count)),
      {
        modal: true,
        detail: vscode.l10n.t('{0}\n\n{1}\n\nBilled per minute until you release it.', summarizeRequest(request), check.message),
      },
      rentButton,
    );
    if (go !== rentButton) return undefined;
  }

  // The SSH key: the identity file's public half, else the server mints one.
  try {
    const identity = await services.podKeys.identityPublicKey();
    if (identity) request.ssh_pubkey = identity.publicKey;
  } catch (e) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', errorMessage(e)));
    return undefined;
  }

  let podId: string;
  try {
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('kgpu: renting {0} × {1}…', String(request.gpu_model), String(request.gpu_count)),
      },
      () => services.client().rent(request),
    );
    podId = result.pod_id;
    if (result.ssh_access?.private_key) await services.podKeys.storeMinted(podId, result.ssh_access.private_key);
    services.log.info(
      `Rented ${podId} (${request.gpu_model} × ${request.gpu_count}${result.recovered ? ', recovered after a lost response' : ''}); key ${request.ssh_pubkey ? 'from kgpu.sshIdentityFile' : 'minted, in secret storage'}.`,
    );
  } catch (e) {
    reportRentError(services, e, answers, opts);
    return undefined;
  }
  services.podIntents.awaitingReady.add(podId);
  await services.pods.refresh();
  if (opts.wait === false) {
    services.podIntents.awaitingReady.delete(podId);
    return podId;
  }
  return waitWithProgress(services, podId, request, opts);
}

function reportRentError(services: KgpuServices, e: unknown, answers: RentAnswers, opts: RentOptions): void {
  if (!(e instanceof KgpuApiError) || e.status === 401) {
    services.showError(e, { prefix: vscode.l10n.t('Could not rent:') });
    return;
  }
  services.log.error(`Rent failed: ${e.userMessage}`);
  // 402 / 409 / 422: the message says what to change; offer to change it.
  const actions = opts.yes ? [] : [402, 409, 422].includes(e.status) ? [vscode.l10n.t('Change…')] : [vscode.l10n.t('Try Again')];
  void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', e.userMessage), ...actions).then((a) => {
    if (a) void vscode.commands.executeCommand('kgpu.rent', { ...answers, yes: false });
  });
}

async function waitWithProgress(
  services: KgpuServices,
  podId: string,
  request: RentRequest,
  opts: RentOptions,
): Promise<string | undefined> {
  const label = `${request.name ?? DEFAULT_NAME} (${request.gpu_model} × ${request.gpu_count})`;
  const controller = new AbortController();
  try {
    const pod = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: starting {0}', label), cancellable: true },
      (progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        progress.report({ message: vscode.l10n.t('Pending…') });
        return pollUntilReady(services, podId, controller.signal, progress);
      },
    );
    services.pods.upsert(pod);
    services.podIntents.awaitingReady.delete(podId);
    if (!opts.yes) {
      const openWorkspace = vscode.l10n.t('Open Workspace');
      const openTerminal = vscode.l10n.t('Open Terminal');
      const copySsh = vscode.l10n.t('Copy SSH Command');
      void vscode.window
        .showInformationMessage(vscode.l10n.t('kgpu: {0} is ready.', label), openWorkspace, openTerminal, copySsh)
        .then((a) => {
          const cmd =
            a === openWorkspace
              ? 'kgpu.openWorkspace'
              : a === openTerminal
                ? 'kgpu.openTerminal'
                : a === copySsh
                  ? 'kgpu.copySshCommand'
                  : undefined;
          if (cmd) void vscode.commands.executeCommand(cmd, podId);
        });
    }
    return podId;
  } catch (e) {
    services.podIntents.awaitingReady.delete(podId);
    if (isAbortError(e)) {
      const release = vscode.l10n.t('Release');
      const choice = await vscode.window.showWarningMessage(
        vscode.l10n.t('kgpu: {0} is still starting and bills from now on. Release it?', label),
        {
          modal: true,
          detail: vscode.l10n.t('Keep it to use it when it is ready (you will be notified), or release it so nothing keeps billing.'),
        },
        release,
        vscode.l10n.t('Keep'),
      );
      if (choice === release) {
        await releasePod(services, podId, { yes: true });
        return undefined;
      }
      return podId;
    }
    if (e instanceof PodEndedError) {
      services.pods.upsert(e.pod);
      void vscode.window
        .showErrorMessage(
          vscode.l10n.t('kgpu: {0} did not start — {1}. {2}', label, e.label, e.nextAction),
          ...(opts.yes ? [] : [vscode.l10n.t('Rent Again…')]),
        )
        .then((a) => {
          if (a) void vscode.commands.executeCommand('kgpu.rent', { ...request, ssh_pubkey: undefined, yes: false });
        });
      return undefined;
    }
    services.showError(e, {
      prefix: vscode.l10n.t('Lost track of {0} while it started (it may still be starting; see the Rentals view):', label),
    });
    return podId;
  } finally {
    void services.pods.refresh();
  }
}

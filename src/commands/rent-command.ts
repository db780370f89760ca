import * as vscode from 'vscode';
import { KgpuApiError, isAbortError } from '../kgpu/api/api-error';
import type { GpuModel, RentRequest } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { safeBurn } from '../kgpu/model/account-view-model';
import {
  DEFAULT_CPU,
  DEFAULT_DISK_GIB,
  DEFAULT_IMAGE,
  DEFAULT_MEMORY,
  DEFAULT_NAME,
  balancePrecheck,
  buildRentRequest,
  gpuCountChoices,
  modelChoices,
  remainingGpuCap,
  summarizeRequest,
  validateCpu,
  validateDisk,
  validateEnv,
  validateImage,
  validateMemory,
  validateName,
  type RentAnswers,
} from '../kgpu/model/rent-options';
import { PodEndedError } from '../kgpu/api/wait-ready';
import { releasePod } from './release-command';
import type { KgpuServices } from '../platform/services';
import { inputStep, pickStep, runSteps, type StepContext, type StepOutcome } from '../platform/multi-step-input';

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
        return services.client().waitUntilReady(podId, {
          signal: controller.signal,
          intervalMs: services.settings.get().pollIntervalSeconds * 1000,
          onProgress: (p) => {
            services.pods.upsert(p.pod);
            progress.report({
              message: p.ready
                ? vscode.l10n.t('ready')
                : vscode.l10n.t(
                    '{0} ({1} s)',
                    `${p.phase}${p.pendingReason ? `: ${p.pendingReason}` : ''}`,
                    Math.round(p.elapsedMs / 1000),
                  ),
            });
          },
        });
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

// ── the wizard ────────────────────────────────────────────────────────────────

const fieldTitles = () =>
  ({
    name: vscode.l10n.t('name'),
    image: vscode.l10n.t('image'),
    cpu: vscode.l10n.t('CPU'),
    memory: vscode.l10n.t('memory'),
    disk: vscode.l10n.t('disk'),
    env: vscode.l10n.t('environment'),
  }) as const;

type ModelItem = vscode.QuickPickItem & { model: GpuModel; disabledReason?: string };

async function runWizard(models: readonly GpuModel[], cap: number, pre: RentOptions): Promise<RentAnswers | undefined> {
  const answers: RentAnswers = { ...pre };
  let skipModel = models.some((m) => m.gpu_model === pre.gpu_model && m.free > 0);
  let model = models.find((m) => m.gpu_model === pre.gpu_model);
  let advanced = false;
  const hasAdvanced =
    pre.name !== undefined ||
    pre.image !== undefined ||
    pre.cpu !== undefined ||
    pre.memory !== undefined ||
    pre.ephemeral_storage_gib !== undefined ||
    pre.env !== undefined;
  const envText =
    typeof pre.env === 'string'
      ? pre.env
      : pre.env
        ? Object.entries(pre.env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : '';
  const text: Record<'name' | 'image' | 'cpu' | 'memory' | 'disk' | 'env', string> = {
    name: pre.name ?? '',
    image: pre.image ?? '',
    cpu: pre.cpu ?? '',
    memory: pre.memory ?? '',
    disk: pre.ephemeral_storage_gib?.toString() ?? '',
    env: envText,
  };
  const field =
    (key: keyof typeof text, prompt: string, placeholder: string, validate: (v: string) => string | undefined) =>
    async (ctx: StepContext): Promise<'next' | 'back' | 'cancel'> => {
      if (!advanced) return 'next';
      const r = await inputStep(
        { ...ctx, title: vscode.l10n.t('kgpu: Rent GPU — {0}', fieldTitles()[key]) },
        { prompt, value: text[key], placeholder, validate },
      );
      if (r.kind !== 'value') return r.kind;
      text[key] = r.value;
      return 'next';
    };
  const ok = await runSteps(
    vscode.l10n.t('kgpu: Rent GPU'),
    [
      async (ctx) => {
        if (skipModel) {
          skipModel = false;
          return 'next';
        }
        const r = await pickModelStep({ ...ctx, title: vscode.l10n.t('kgpu: Rent GPU — model') }, models, cap, model?.gpu_model);
        if (r.kind !== 'value') return r.kind;
        model = r.value;
        return 'next';
      },
      async (ctx) => {
        const r = await pickCountStep({ ...ctx, title: vscode.l10n.t('kgpu: Rent GPU — how many GPUs') }, model!, cap, answers.gpu_count);
        if (r.kind !== 'value') return r.kind;
        answers.gpu_count = r.value;
        return 'next';
      },
      async (ctx) => {
        const items = [
          {
            label: `$(rocket) ${vscode.l10n.t('Rent now')}`,
            description: hasAdvanced
              ? vscode.l10n.t('with the options given')
              : vscode.l10n.t('defaults: {0}, {1} CPU, {2}, {3} GiB disk', DEFAULT_IMAGE, DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_DISK_GIB),
            advanced: false,
          },
          {
            label: `$(settings) ${vscode.l10n.t('Advanced options…')}`,
            description: vscode.l10n.t('name, image, CPU, memory, disk, environment'),
            advanced: true,
          },
        ];
        const r = await pickStep(
          { ...ctx, title: vscode.l10n.t('kgpu: Rent GPU — confirm or change options') },
          { items, placeholder: `${model!.gpu_model} × ${answers.gpu_count}`, active: items[advanced ? 1 : 0] },
        );
        if (r.kind !== 'value') return r.kind;
        advanced = r.value.advanced;
        return 'next';
      },
      field('name', vscode.l10n.t('A label for the rental (DNS-safe, ≤ 30 chars; empty = "rent")'), DEFAULT_NAME, validateName),
      field(
        'image',
        vscode.l10n.t('Container image (empty = the preloaded kgpu-pytorch:latest; others are pulled, e.g. ghcr.io/org/img:tag)'),
        DEFAULT_IMAGE,
        validateImage,
      ),
      field('cpu', vscode.l10n.t('CPU cores, ≤ 16'), DEFAULT_CPU, validateCpu),
      field('memory', vscode.l10n.t('RAM, ≤ 128Gi (e.g. 16Gi, 512Mi)'), DEFAULT_MEMORY, validateMemory),
      field('disk', vscode.l10n.t('Ephemeral disk in GiB, 1–2000 (exceeding it evicts the pod)'), String(DEFAULT_DISK_GIB), validateDisk),
      field(
        'env',
        vscode.l10n.t('Extra environment variables: KEY=VALUE pairs separated by spaces or commas'),
        'WANDB_MODE=offline HF_HOME=/workspace/hf',
        validateEnv,
      ),
    ],
    () => (advanced ? 9 : 3),
  );
  if (!ok || !model) return undefined;
  answers.gpu_model = model.gpu_model;
  if (!advanced) return answers;
  return {
    ...answers,
    name: text.name,
    image: text.image,
    cpu: text.cpu,
    memory: text.memory,
    ephemeral_storage_gib: text.disk === '' ? undefined : text.disk,
    env: text.env,
  };
}

function pickModelStep(ctx: StepContext, models: readonly GpuModel[], cap: number, preferred?: string): Promise<StepOutcome<GpuModel>> {
  const items: ModelItem[] = modelChoices(models, cap).map((c) => ({
    label: c.disabledReason ? `$(circle-slash) ${c.label}` : `$(chip) ${c.label}`,
    description: c.description,
    detail: c.disabledReason ? vscode.l10n.t('Not available: {0}', c.disabledReason) : undefined,
    model: c.model,
    disabledReason: c.model.free <= 0 ? c.disabledReason : undefined, // at the cap a CPU-only pod is still possible
  }));
  const active = items.find((i) => i.model.gpu_model === preferred) ?? items.find((i) => !i.disabledReason);
  return pickStep(ctx, {
    items,
    active,
    matchOnDescription: true,
    placeholder:
      cap > 0
        ? cap === 1
          ? vscode.l10n.t('Pick a GPU model (you can rent up to {0} more GPU)', cap)
          : vscode.l10n.t('Pick a GPU model (you can rent up to {0} more GPUs)', cap)
        : vscode.l10n.t('You are at the 4-GPU cap: release a pod first, or rent a CPU-only pod (0 GPUs)'),
    refuse: (item) =>
      item.disabledReason ? vscode.l10n.t('{0} is {1}: pick another model', item.model.gpu_model, item.disabledReason) : undefined,
  }).then((r) => (r.kind === 'value' ? { kind: 'value', value: r.value.model } : r));
}

function pickCountStep(ctx: StepContext, model: GpuModel, cap: number, preferred?: number): Promise<StepOutcome<number>> {
  const counts = gpuCountChoices(model, cap);
  const first = preferred !== undefined && counts.includes(preferred) ? preferred : counts[0];
  const ordered = [first, ...counts.filter((n) => n !== first)];
  const items = ordered.map((n) => ({
    label: n === 0 ? vscode.l10n.t('0 — CPU only') : n === 1 ? vscode.l10n.t('{0} GPU', n) : vscode.l10n.t('{0} GPUs', n),
    description:
      n === 0
        ? vscode.l10n.t('still billed at the class rate')
        : vscode.l10n.t(
            '{0} $/h · {1} credits/h',
            ((model.price_per_hour_credits * n) / 1500).toFixed(2),
            model.price_per_hour_credits * n,
          ),
    n,
  }));
  return pickStep(ctx, {
    items,
    placeholder: vscode.l10n.t(
      '{0}: {1} free; you can rent {2} more (4 concurrent GPUs per account)',
      model.gpu_model,
      model.free,
      Math.min(cap, 4),
    ),
  }).then((r) => (r.kind === 'value' ? { kind: 'value', value: r.value.n } : r));
}

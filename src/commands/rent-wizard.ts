/**
 * `kgpu: Rent GPU…`'s wizard (rent-command.ts runs it): the model (sold-out and over-quota ones
 * shown but refused), the GPU count, then the optional advanced fields, each validated as you type.
 */
import * as vscode from 'vscode';
import type { GpuModel } from '../kgpu/api/api-types';
import {
  DEFAULT_CPU,
  DEFAULT_DISK_GIB,
  DEFAULT_IMAGE,
  DEFAULT_MEMORY,
  DEFAULT_NAME,
  gpuCountChoices,
  modelChoices,
  validateCpu,
  validateDisk,
  validateEnv,
  validateImage,
  validateMemory,
  validateName,
  type RentAnswers,
} from '../kgpu/model/rent-options';
import { inputStep, pickStep, runSteps, type StepContext, type StepOutcome } from '../platform/multi-step-input';

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

/** The rent wizard's steps (Back goes to the previous one): model, GPU count, then the optional advanced fields. */
export async function runWizard(models: readonly GpuModel[], cap: number, pre: RentAnswers): Promise<RentAnswers | undefined> {
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

import * as vscode from 'vscode';
import type { GpuModel } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { gpuModelItem, sortGpuModels } from '../kgpu/model/gpu-models-view-model';
import type { KgpuServices } from '../platform/services';
import { toTreeItem } from './tree-item';

/** A row of the GPU Models view; `kgpu.rent` receives it from the inline "Rent…" action. */
export interface GpuModelNode {
  kind: 'gpuModel';
  model: GpuModel;
}

/** The GPU Models view: the public menu (works signed out), cheapest first. */
export function registerGpuModelsView(services: KgpuServices): vscode.Disposable {
  const emitter = new vscode.EventEmitter<void>();
  const provider: vscode.TreeDataProvider<GpuModelNode> = {
    onDidChangeTreeData: emitter.event,
    getTreeItem: (node) => toTreeItem(gpuModelItem(node.model)),
    getChildren: (node) =>
      node ? [] : sortGpuModels(services.pods.gpuModels ?? []).map((model) => ({ kind: 'gpuModel' as const, model })),
  };
  const view = vscode.window.createTreeView('kgpu.gpuModels', { treeDataProvider: provider });
  const update = (): void => {
    const failure = services.pods.lastError;
    if (failure && !services.pods.gpuModels) view.message = vscode.l10n.t('Cannot load GPU models: {0}', errorMessage(failure.error));
    else if (failure?.part === 'gpu-models')
      view.message = vscode.l10n.t('Showing the last known menu; refreshing failed: {0}', errorMessage(failure.error));
    else if (!services.pods.gpuModels) view.message = vscode.l10n.t('Loading GPU models…');
    else if (services.pods.gpuModels.length === 0) view.message = vscode.l10n.t('No GPU models are offered right now.');
    else view.message = undefined;
    emitter.fire();
  };
  update();
  return vscode.Disposable.from(view, emitter, services.viewVisibility.track('kgpu.gpuModels', view), services.pods.onDidChange(update));
}

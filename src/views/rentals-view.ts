import * as vscode from 'vscode';
import type { Pod } from '../kgpu/api/api-types';
import { errorMessage } from '../kgpu/api/error-dedup';
import { rentalItem } from '../kgpu/model/rentals-view-model';
import type { KgpuServices } from '../platform/services';
import { telemetryFor } from '../platform/telemetry-hub';
import { toTreeItem } from './tree-item';

/** A rental row; commands from its context menu receive it (services.pickPod understands it). */
export interface RentalNode {
  kind: 'rental';
  pod: Pod;
}

type Node = RentalNode | object;

function isRental(n: Node): n is RentalNode {
  return (n as RentalNode).kind === 'rental' && typeof (n as RentalNode).pod === 'object';
}

/**
 * The Rentals view: newest first, with the rows other features attach under a rental (jobs), and
 * `kgpu: Clear Ended Rentals` (hidden per workspace; the server keeps the history).
 */
export function registerRentalsView(services: KgpuServices): vscode.Disposable {
  const emitter = new vscode.EventEmitter<Node | undefined | void>();
  const nodes = new Map<string, RentalNode>();
  const provider: vscode.TreeDataProvider<Node> = {
    onDidChangeTreeData: emitter.event,
    getTreeItem: (node) => {
      if (isRental(node)) {
        const hasChildren = services.rentalChildren.childrenOf(node.pod).length > 0;
        const item = toTreeItem(
          rentalItem(node.pod, Date.now()),
          hasChildren ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
        );
        // Live GPU numbers while telemetry runs (src/platform/telemetry-hub.ts).
        const gpu = telemetryFor(services).summary(node.pod.pod_id);
        if (gpu) {
          // Right after the model (`rtx3090 × 1 · GPU 87% · 14.2/24 GiB · Running · …`): visible in a narrow sidebar.
          const parts = item.description ? String(item.description).split(' · ') : [];
          parts.splice(Math.min(1, parts.length), 0, gpu);
          item.description = parts.join(' · ');
        }
        return item;
      }
      return services.rentalChildren.treeItemOf(node) ?? new vscode.TreeItem('?');
    },
    getChildren: (node) => {
      if (!node) {
        if (!services.auth.signedIn) return [];
        // Keep node identity per pod (reveal, selection) while updating its data.
        const list = services.pods.pods.map((pod) => {
          const n = nodes.get(pod.pod_id) ?? { kind: 'rental' as const, pod };
          n.pod = pod;
          nodes.set(pod.pod_id, n);
          return n;
        });
        for (const id of [...nodes.keys()]) if (!services.pods.get(id)) nodes.delete(id);
        return list;
      }
      return isRental(node) ? services.rentalChildren.childrenOf(node.pod) : [];
    },
    getParent: (node) => {
      if (isRental(node)) return undefined;
      const podId = (node as { podId?: unknown }).podId;
      return typeof podId === 'string' ? nodes.get(podId) : undefined;
    },
  };
  const view = vscode.window.createTreeView('kgpu.rentals', { treeDataProvider: provider, showCollapseAll: false });
  const update = (): void => {
    const failure = services.pods.lastError;
    view.message =
      services.auth.signedIn && failure && failure.part === 'pods'
        ? vscode.l10n.t('Showing the last known state; refreshing failed: {0}', errorMessage(failure.error))
        : undefined;
    emitter.fire();
  };
  update();
  return vscode.Disposable.from(
    view,
    emitter,
    services.viewVisibility.track('kgpu.rentals', view),
    services.pods.onDidChange(update),
    services.auth.onDidChange(update),
    services.rentalChildren.onDidChange(() => emitter.fire()),
    telemetryFor(services).onDidChange((podId) => {
      const n = nodes.get(podId);
      if (n) emitter.fire(n);
    }),
    // The row as this view renders it (the e2e suite checks its live GPU numbers); not in the palette.
    vscode.commands.registerCommand('kgpu._rentalRow', (podId: string) => {
      const n = nodes.get(podId);
      if (!n) return undefined;
      const item = provider.getTreeItem(n) as vscode.TreeItem;
      return { label: item.label, description: item.description, contextValue: item.contextValue };
    }),
    vscode.commands.registerCommand('kgpu.clearEnded', async () => {
      await services.pods.clearEnded();
    }),
  );
}

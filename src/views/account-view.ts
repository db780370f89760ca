import * as vscode from 'vscode';
import { accountItems } from '../kgpu/model/account-view-model';
import { errorMessage } from '../kgpu/api/error-dedup';
import type { TreeItemModel } from '../kgpu/model/tree-item-model';
import type { KgpuServices } from '../platform/services';
import { toTreeItem } from './tree-item';

/** The Account view: who, balance (credits and $), burn rate, time left, GPU quota. Empty when
 *  signed out, so the manifest's welcome content (Sign in / Try the simulator) shows. */
export function registerAccountView(services: KgpuServices): vscode.Disposable {
  const emitter = new vscode.EventEmitter<void>();
  const provider: vscode.TreeDataProvider<TreeItemModel> = {
    onDidChangeTreeData: emitter.event,
    getTreeItem: (m) => toTreeItem(m),
    getChildren: (m) => {
      if (m || !services.auth.signedIn) return [];
      const failure = services.pods.lastError;
      return accountItems({
        me: services.pods.me,
        pods: services.pods.allPods,
        tokenSource: services.auth.source,
        apiBase: services.settings.get().apiBase,
        error: failure ? errorMessage(failure.error) : undefined,
        fetchedAt: services.pods.lastRefreshAt,
        now: Date.now(),
      });
    },
  };
  const view = vscode.window.createTreeView('kgpu.account', { treeDataProvider: provider });
  const update = (): void => emitter.fire();
  return vscode.Disposable.from(
    view,
    emitter,
    services.viewVisibility.track('kgpu.account', view),
    services.pods.onDidChange(update),
    services.auth.onDidChange(update),
  );
}

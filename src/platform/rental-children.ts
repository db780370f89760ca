import * as vscode from 'vscode';
import type { Pod } from '../kgpu/api/api-types';

/**
 * Rows other features show under a rental in the Rentals view (jobs, issue 9). A provider keeps
 * its children in memory (getChildren is synchronous and cheap) and fires onDidChange when they
 * change. The child object itself is what context-menu commands receive as their argument, so
 * give it a `podId` (pickPod understands it) and whatever the command needs.
 */
export interface RentalChildProvider<T extends object = object> {
  readonly onDidChange?: vscode.Event<void>;
  getChildren(pod: Pod): readonly T[];
  getTreeItem(child: T): vscode.TreeItem;
}

export class RentalChildren implements vscode.Disposable {
  private readonly providers = new Set<RentalChildProvider>();
  private readonly owner = new WeakMap<object, RentalChildProvider>();
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;

  register<T extends object>(provider: RentalChildProvider<T>): vscode.Disposable {
    const p = provider as unknown as RentalChildProvider;
    this.providers.add(p);
    const sub = provider.onDidChange?.(() => this.emitter.fire());
    this.emitter.fire();
    return new vscode.Disposable(() => {
      this.providers.delete(p);
      sub?.dispose();
      this.emitter.fire();
    });
  }

  childrenOf(pod: Pod): object[] {
    const out: object[] = [];
    for (const p of this.providers) {
      for (const c of p.getChildren(pod)) {
        this.owner.set(c, p);
        out.push(c);
      }
    }
    return out;
  }

  /** The tree item of a child returned by childrenOf, or undefined for an unknown object. */
  treeItemOf(child: object): vscode.TreeItem | undefined {
    return this.owner.get(child)?.getTreeItem(child);
  }

  isChild(element: object): boolean {
    return this.owner.has(element);
  }

  dispose(): void {
    this.providers.clear();
    this.emitter.dispose();
  }
}

import * as vscode from 'vscode';

/** Which kgpu views are visible, so polling can pause while the sidebar is closed. */
export class ViewVisibility implements vscode.Disposable {
  private readonly visible = new Set<string>();
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;

  /** Follow a TreeView's visibility (call once per view). */
  track(viewId: string, view: vscode.TreeView<unknown>): vscode.Disposable {
    this.set(viewId, view.visible === true);
    return view.onDidChangeVisibility((e) => this.set(viewId, e.visible));
  }

  set(viewId: string, isVisible: boolean): void {
    const was = this.visible.has(viewId);
    if (isVisible) this.visible.add(viewId);
    else this.visible.delete(viewId);
    if (was !== isVisible) this.emitter.fire();
  }

  get anyVisible(): boolean {
    return this.visible.size > 0;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

import * as vscode from 'vscode';
import type { TreeItemModel } from '../kgpu/model/tree-item-model';

/** A vscode.TreeItem from a view model row (computed by the pure functions in src/kgpu). */
export function toTreeItem(m: TreeItemModel, collapsible = vscode.TreeItemCollapsibleState.None): vscode.TreeItem {
  const item = new vscode.TreeItem(m.label, collapsible);
  item.id = m.id;
  item.description = m.description;
  const tooltip = new vscode.MarkdownString(m.tooltip);
  tooltip.supportThemeIcons = true;
  item.tooltip = tooltip;
  item.contextValue = m.contextValue;
  item.iconPath = new vscode.ThemeIcon(m.icon.id, m.icon.color ? new vscode.ThemeColor(m.icon.color) : undefined);
  return item;
}

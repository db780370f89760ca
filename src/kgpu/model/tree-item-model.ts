/**
 * What a tree row shows, computed by pure functions from API objects so it can be tested without
 * VS Code; the editor adapters turn it into a vscode.TreeItem one-to-one.
 */
export interface TreeItemModel {
  /** Stable id (keeps selection and expansion across refreshes). */
  id: string;
  label: string;
  description?: string;
  /** Markdown. */
  tooltip: string;
  /** The `viewItem` of the manifest's `when` clauses (e.g. "rental.ready"). */
  contextValue: string;
  /** A codicon id ("vm-running", "loading~spin") and an optional theme colour id ("charts.green"). */
  icon: { id: string; color?: string };
}

/** "3m", "2h05m", "3d4h" — how long ago / how long. Never negative. */
export function formatAge(ms: number): string {
  if (!(ms >= 60_000)) return `${Math.max(0, Math.floor(ms / 1000))}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

/** Escape text for a Markdown tooltip. */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

/**
 * Which value of a kgpu setting counts, given where it was set — the policy of settings.ts
 * without `vscode`, so it is unit-tested:
 * - connection settings (`apiBase`, `sshHost`, `sshPort`, `sshIdentityFile`) decide where the
 *   account token and every synced file go: only the user's own value counts (machine scope);
 *   a workspace's or folder's value — a cloned repository's `.vscode/settings.json` — is ignored
 *   and reported;
 * - execution settings (`python`, `env`, `launcher`) legitimately differ per project, but they run code in
 *   the pod: a workspace's value counts only in a trusted workspace. A window on a pod's folder
 *   (`kgpu://…`) counts as untrusted for them unless the user trusted it: anything running in
 *   the pod can write that folder's `.vscode/settings.json`;
 * - every other setting: the usual order (folder, workspace, user).
 * Also: which API bases may receive a token over plain HTTP (this machine only).
 */

export const CONNECTION_SETTINGS = ['apiBase', 'sshHost', 'sshPort', 'sshIdentityFile'] as const;
export const EXECUTION_SETTINGS = ['python', 'env', 'launcher'] as const;

export const DEFAULT_API_BASE = 'https://api.kgpu.net/v1';

/** The parts of `WorkspaceConfiguration.inspect()` that matter here. */
export interface Inspected<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export interface TrustContext {
  /** `vscode.workspace.isTrusted`. */
  isTrusted: boolean;
  /** The window's workspace is a pod's folder (kgpu://), whose settings a pod process can write. */
  podWindow: boolean;
  /** The user trusted this pod window's settings explicitly. */
  podWindowTrusted: boolean;
}

export interface Resolved<T> {
  /** The value set by someone who counts, or undefined (then the caller's fallback applies). */
  value: T | undefined;
  /** A workspace or folder set it and was ignored. */
  ignoredWorkspaceValue: boolean;
}

/** Whether a workspace's execution settings may be used in this window. */
export function workspaceMayRunCode(t: TrustContext): boolean {
  return t.isTrusted && (!t.podWindow || t.podWindowTrusted);
}

export function resolveSetting<T>(key: string, i: Inspected<T> | undefined, trust: TrustContext): Resolved<T> {
  const fromWorkspace = i?.workspaceFolderValue ?? i?.workspaceValue;
  const user = i?.globalValue;
  if ((CONNECTION_SETTINGS as readonly string[]).includes(key)) {
    return { value: user, ignoredWorkspaceValue: fromWorkspace !== undefined };
  }
  if ((EXECUTION_SETTINGS as readonly string[]).includes(key) && !workspaceMayRunCode(trust)) {
    return { value: user, ignoredWorkspaceValue: fromWorkspace !== undefined };
  }
  return { value: fromWorkspace ?? user, ignoredWorkspaceValue: false };
}

/** 127.0.0.0/8, ::1, localhost (and *.localhost): plain HTTP to these never leaves this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** An API base that may receive the account token, or why not. `what` names where it came from
 *  (`kgpu.apiBase`, `$KGPU_API_BASE`) for the message. */
export function checkApiBase(raw: string, what = 'kgpu.apiBase'): { ok: true; base: string } | { ok: false; why: string } {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return { ok: false, why: `${what} "${raw}" is not a URL (e.g. ${DEFAULT_API_BASE}).` };
  }
  if (u.username || u.password) return { ok: false, why: `${what} "${raw}" must not contain a user name or password.` };
  if (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname)))
    return { ok: true, base: raw.trim().replace(/\/+$/, '') };
  if (u.protocol === 'http:') {
    return {
      ok: false,
      why: `${what} "${raw}" uses http:// for ${u.host}, which is not this machine: your token would travel unencrypted. Use https:// (http:// is allowed only for 127.0.0.1, ::1 and localhost).`,
    };
  }
  return { ok: false, why: `${what} "${raw}" is not an http(s) URL.` };
}

/** For sign-in: which server will receive the token, said plainly when it is not kgpu's own. */
export function tokenDestination(apiBase: string): { host: string; official: boolean; warning?: string } {
  const host = new URL(apiBase).host;
  const official = new URL(apiBase).origin === new URL(DEFAULT_API_BASE).origin;
  if (official) return { host, official };
  return {
    host,
    official,
    warning: `The token will be sent to ${host} (kgpu.apiBase in your user settings), not to kgpu's api.kgpu.net. Only continue if you run or trust that server.`,
  };
}

/** Setting keys a settings file's text sets (for a notice about values VS Code already dropped). */
export function kgpuKeysIn(settingsText: string, keys: readonly string[]): string[] {
  return keys.filter((k) => new RegExp(`"kgpu\\.${k}"\\s*:`).test(settingsText));
}

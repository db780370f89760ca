import * as vscode from 'vscode';
import { MODULE_NAME } from './kgpu/warm';

/** The `kgpu.*` settings, read fresh on every access and validated at the edge: a bad value
 *  falls back to the default with one warning instead of breaking every feature. */
export interface KgpuSettings {
  apiBase: string;
  sshHost: string;
  sshPort: number;
  sshIdentityFile: string;
  pollIntervalSeconds: number;
  python: string;
  env: Record<string, string>;
  syncExclude: string[];
  transitObjectThresholdBytes: number;
  maxEditorFileBytes: number;
  /** kgpu.warmStart / kgpu.warmStartPreload (machine-scoped: the user's settings only). */
  warmStart: 'auto' | 'off';
  warmStartPreload: string[];
}

const DEFAULT_API_BASE = 'https://api.kgpu.net/v1';

export class Settings implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Fires when a setting that changes where we connect (apiBase, sshHost, sshPort, identity) changes. */
  readonly onDidChangeConnection = this.emitter.event;
  private readonly subscription: vscode.Disposable;
  private warned = new Set<string>();

  constructor(private readonly environment: NodeJS.ProcessEnv = process.env) {
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (['kgpu.apiBase', 'kgpu.sshHost', 'kgpu.sshPort', 'kgpu.sshIdentityFile'].some((k) => e.affectsConfiguration(k))) {
        this.warned.clear();
        this.emitter.fire();
      }
    });
  }

  get(): KgpuSettings {
    const c = vscode.workspace.getConfiguration('kgpu');
    return {
      apiBase: this.apiBase(c),
      sshHost: this.sshHost(c),
      sshPort: this.intIn(c, 'sshPort', 2222, 1, 65535, Number(this.environment.KGPU_SSH_PORT) || undefined),
      sshIdentityFile: c.get<string>('sshIdentityFile', '').trim(),
      pollIntervalSeconds: this.intIn(c, 'pollIntervalSeconds', 10, 10, 60),
      python: c.get<string>('python', 'python').trim() || 'python',
      env: Object.fromEntries(Object.entries(c.get<Record<string, unknown>>('env', {}) ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string')),
      syncExclude: (c.get<unknown[]>('syncExclude', []) ?? []).filter((p): p is string => typeof p === 'string'),
      transitObjectThresholdBytes: this.intIn(c, 'transitObjectThresholdMB', 256, 1, 1_000_000) * 1024 * 1024,
      maxEditorFileBytes: this.intIn(c, 'maxEditorFileSizeMB', 256, 1, 1_000_000) * 1024 * 1024,
      warmStart: c.inspect<unknown>('warmStart')?.globalValue === 'off' ? 'off' : 'auto',
      warmStartPreload: this.preload(c.inspect<unknown>('warmStartPreload')?.globalValue),
    };
  }

  /** Valid module names of kgpu.warmStartPreload; one warning naming the others. */
  private preload(v: unknown): string[] {
    const all = Array.isArray(v) ? v : [];
    const ok = all.filter((m): m is string => typeof m === 'string' && MODULE_NAME.test(m.trim())).map((m) => m.trim());
    if (ok.length !== all.length) this.warnOnce('warmStartPreload', `kgpu.warmStartPreload: ${all.filter((m) => !(typeof m === 'string' && MODULE_NAME.test(m.trim()))).map((m) => JSON.stringify(m)).join(', ')} is not a module name; ignored.`);
    return ok;
  }

  /** The setting when the user set it; else $KGPU_API_BASE; else the public default. */
  private apiBase(c: vscode.WorkspaceConfiguration): string {
    const explicit = userValue<string>(c, 'apiBase');
    const raw = (explicit ?? this.environment.KGPU_API_BASE ?? DEFAULT_API_BASE).trim();
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
      return raw.replace(/\/+$/, '');
    } catch {
      this.warnOnce('apiBase', `kgpu.apiBase "${raw}" is not an http(s) URL; using ${DEFAULT_API_BASE}. Fix it in Settings.`);
      return DEFAULT_API_BASE;
    }
  }

  private sshHost(c: vscode.WorkspaceConfiguration): string {
    const explicit = userValue<string>(c, 'sshHost');
    const raw = (explicit ?? this.environment.KGPU_SSH_HOST ?? 'ssh.kgpu.net').trim();
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(raw)) {
      this.warnOnce('sshHost', `kgpu.sshHost "${raw}" is not a host name; using ssh.kgpu.net.`);
      return 'ssh.kgpu.net';
    }
    return raw;
  }

  private intIn(c: vscode.WorkspaceConfiguration, key: string, def: number, min: number, max: number, envDefault?: number): number {
    const explicit = userValue<unknown>(c, key);
    const v = explicit ?? envDefault ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.warnOnce(key, `kgpu.${key} must be a whole number from ${min} to ${max}; using ${def}.`);
      return def;
    }
    return v;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    void vscode.window.showWarningMessage(message, 'Open Settings').then((a) => {
      if (a) void vscode.commands.executeCommand('workbench.action.openSettings', `kgpu.${key}`);
    });
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}

function userValue<T>(c: vscode.WorkspaceConfiguration, key: string): T | undefined {
  const i = c.inspect<T>(key);
  return i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
}

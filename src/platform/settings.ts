import * as vscode from 'vscode';
import { parseLauncherSetting, type LauncherSetting } from '../kgpu/launch/torchrun';
import {
  checkApiBase,
  CONNECTION_SETTINGS,
  DEFAULT_API_BASE,
  EXECUTION_SETTINGS,
  kgpuKeysIn,
  resolveSetting,
  workspaceMayRunCode,
  type TrustContext,
} from '../kgpu/model/setting-resolution';
import { MODULE_NAME } from '../kgpu/warm/pod-shell'; // not the folder's index: it would load the warm start at activation (issue 24)

/** The `kgpu.*` settings, read fresh on every access and validated at the edge: a bad value
 *  falls back to the default with one warning instead of breaking every feature.
 *
 *  Who may set what (src/kgpu/model/setting-resolution.ts): where the token and files go (apiBase,
 *  sshHost, sshPort, sshIdentityFile) only the user — a workspace's values are ignored, with one
 *  notice; what runs in the pod (python, env) a workspace too, but only a trusted one (Restricted
 *  Mode, or a kgpu:// pod window the user has not trusted, use the user's values). */
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
  /** kgpu.installDependencies (machine-scoped): install a synced project's dependency files into
   *  an environment in the pod before a run ('auto'), or run with kgpu.python as it is ('off'). */
  installDependencies: 'auto' | 'off';
  /** kgpu.launcher (an execution setting, like python): how a multi-GPU pod runs a file. */
  launcher: LauncherSetting;
}

const POD_WINDOWS_TRUSTED_KEY = 'kgpu.trustedPodWindows';

export class Settings implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Fires when a setting that changes where we connect (apiBase, sshHost, sshPort, identity) changes. */
  readonly onDidChangeConnection = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  private warned = new Set<string>();
  /** One-time notices about ignored workspace settings already shown in this window. */
  private readonly noticed = new Set<string>();
  /** Workspace settings ignored in the last reads (`kgpu.apiBase`, …), from inspect() and the files. */
  private readonly ignored = new Set<string>();
  private readonly ignoredInFiles = new Set<string>();
  /** Resolves when the workspace's settings files were last looked at (tests). */
  scanned: Promise<void> = Promise.resolve();

  constructor(
    private readonly environment: NodeJS.ProcessEnv = process.env,
    private readonly globalState?: vscode.Memento,
  ) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (CONNECTION_SETTINGS.some((k) => e.affectsConfiguration(`kgpu.${k}`))) {
          this.warned.clear();
          this.emitter.fire();
        }
        if (e.affectsConfiguration('kgpu')) this.scan();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.noticed.delete('untrusted')),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.scan()),
    );
    this.scan();
  }

  get(): KgpuSettings {
    const c = vscode.workspace.getConfiguration('kgpu');
    const trust = this.trust();
    this.ignored.clear();
    const pick = <T>(key: string): T | undefined => {
      const r = resolveSetting<T>(key, c.inspect<T>(key), trust);
      if (r.ignoredWorkspaceValue) this.ignored.add(`kgpu.${key}`);
      return r.value;
    };
    const python = pick<string>('python');
    const env = pick<Record<string, unknown>>('env');
    const settings: KgpuSettings = {
      apiBase: this.apiBase(pick<string>('apiBase')),
      sshHost: this.sshHost(pick<string>('sshHost')),
      sshPort: this.intIn('sshPort', pick<unknown>('sshPort'), 2222, 1, 65535, Number(this.environment.KGPU_SSH_PORT) || undefined),
      sshIdentityFile: (pick<string>('sshIdentityFile') ?? '').trim(),
      pollIntervalSeconds: this.intIn('pollIntervalSeconds', pick<unknown>('pollIntervalSeconds'), 10, 10, 60),
      python: (typeof python === 'string' ? python.trim() : '') || 'python',
      env: Object.fromEntries(
        Object.entries(env && typeof env === 'object' ? env : {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
      ),
      syncExclude: (pick<unknown[]>('syncExclude') ?? c.get<unknown[]>('syncExclude', []) ?? []).filter(
        (p): p is string => typeof p === 'string',
      ),
      transitObjectThresholdBytes:
        this.intIn('transitObjectThresholdMB', pick<unknown>('transitObjectThresholdMB'), 256, 1, 1_000_000) * 1024 * 1024,
      maxEditorFileBytes: this.intIn('maxEditorFileSizeMB', pick<unknown>('maxEditorFileSizeMB'), 256, 1, 1_000_000) * 1024 * 1024,
      warmStart: c.inspect<unknown>('warmStart')?.globalValue === 'off' ? 'off' : 'auto',
      warmStartPreload: this.preload(c.inspect<unknown>('warmStartPreload')?.globalValue),
      installDependencies: c.inspect<unknown>('installDependencies')?.globalValue === 'off' ? 'off' : 'auto',
      launcher: parseLauncherSetting(pick<unknown>('launcher')),
    };
    // Keys VS Code dropped before we could see them (machine scope, Restricted Mode): from the files.
    for (const k of this.ignoredInFiles)
      if (!(EXECUTION_SETTINGS as readonly string[]).includes(k.slice(5)) || !workspaceMayRunCode(trust)) this.ignored.add(k);
    this.notice(trust);
    return settings;
  }

  /** The workspace settings kgpu ignored in the last get() (e.g. `kgpu.apiBase`), for tests and diagnostics. */
  ignoredWorkspaceSettings(): string[] {
    return [...this.ignored].sort();
  }

  /** How far this window's workspace is trusted for settings that run code in the pod. */
  trust(): TrustContext {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const file = vscode.workspace.workspaceFile;
    // The workspace's own settings come from a pod: a kgpu:// workspace file, or one kgpu:// folder.
    const podWindow = file ? file.scheme === 'kgpu' : folders.length > 0 && folders[0].uri.scheme === 'kgpu';
    const id = file?.toString() ?? folders[0]?.uri.toString() ?? '';
    const trusted = this.globalState?.get<string[]>(POD_WINDOWS_TRUSTED_KEY, []) ?? [];
    return { isTrusted: vscode.workspace.isTrusted, podWindow, podWindowTrusted: podWindow && trusted.includes(id) };
  }

  /** "Use Them": trust this pod window's kgpu.python / kgpu.env. */
  private async trustPodWindow(): Promise<void> {
    const id = vscode.workspace.workspaceFile?.toString() ?? vscode.workspace.workspaceFolders?.[0]?.uri.toString();
    if (!id || !this.globalState) return;
    const trusted = this.globalState.get<string[]>(POD_WINDOWS_TRUSTED_KEY, []);
    if (!trusted.includes(id)) await this.globalState.update(POD_WINDOWS_TRUSTED_KEY, [...trusted, id]);
  }

  /** One notice per kind and window: what a workspace tried to set and kgpu ignored. */
  private notice(trust: TrustContext): void {
    const connection = [...this.ignored].filter((k) => CONNECTION_SETTINGS.some((c) => `kgpu.${c}` === k));
    if (connection.length && this.once('workspace-connection')) {
      void vscode.window
        .showWarningMessage(
          vscode.l10n.t(
            "kgpu: this workspace's settings set {0} — ignored. They decide where your account token and your files go, so kgpu takes them from your user settings only. Set them there if you mean them.",
            connection.join(', '),
          ),
          vscode.l10n.t('Open User Settings'),
        )
        .then((a) => a && vscode.commands.executeCommand('workbench.action.openSettings', 'kgpu.apiBase'));
    }
    const execution = [...this.ignored].filter((k) => EXECUTION_SETTINGS.some((c) => `kgpu.${c}` === k));
    if (!execution.length) return;
    // "kgpu.python and kgpu.env", in the display language's words.
    const executionList = new Intl.ListFormat(vscode.env.language, { type: 'conjunction' }).format(execution);
    if (!trust.isTrusted && this.once('untrusted')) {
      void vscode.window
        .showWarningMessage(
          vscode.l10n.t(
            "kgpu: Restricted Mode — this workspace's {0} are not used until you trust the workspace; jobs run with your user settings.",
            executionList,
          ),
          vscode.l10n.t('Manage Workspace Trust'),
        )
        .then((a) => a && vscode.commands.executeCommand('workbench.trust.manage'));
    } else if (trust.isTrusted && trust.podWindow && this.once('pod-window')) {
      const useThem = vscode.l10n.t('Use Them');
      void vscode.window
        .showWarningMessage(
          vscode.l10n.t(
            "kgpu: this window's folder is in a pod, and anything running there can write its .vscode/settings.json — so its {0} are not used. Use them only if you wrote them.",
            executionList,
          ),
          useThem,
        )
        .then(async (a) => {
          if (a !== useThem) return;
          await this.trustPodWindow();
          this.noticed.delete('pod-window');
        });
    }
  }

  /** Valid module names of kgpu.warmStartPreload; one warning naming the others. */
  private preload(v: unknown): string[] {
    const all = Array.isArray(v) ? v : [];
    const ok = all.filter((m): m is string => typeof m === 'string' && MODULE_NAME.test(m.trim())).map((m) => m.trim());
    if (ok.length !== all.length)
      this.warnOnce(
        'warmStartPreload',
        vscode.l10n.t(
          'kgpu.warmStartPreload: {0} is not a module name; ignored.',
          all
            .filter((m) => !(typeof m === 'string' && MODULE_NAME.test(m.trim())))
            .map((m) => JSON.stringify(m))
            .join(', '),
        ),
      );
    return ok;
  }

  private once(key: string): boolean {
    if (this.noticed.has(key)) return false;
    this.noticed.add(key);
    return true;
  }

  /** Look at the workspace's settings files for kgpu keys VS Code itself may have dropped
   *  (machine-scoped values in a workspace), so the notice names them. */
  private scan(): void {
    const files: vscode.Uri[] = [];
    if (vscode.workspace.workspaceFile && vscode.workspace.workspaceFile.scheme !== 'untitled') files.push(vscode.workspace.workspaceFile);
    for (const f of vscode.workspace.workspaceFolders ?? []) files.push(vscode.Uri.joinPath(f.uri, '.vscode', 'settings.json'));
    const keys = [...CONNECTION_SETTINGS, ...EXECUTION_SETTINGS];
    this.scanned = Promise.all(
      files.map((u) =>
        Promise.resolve(vscode.workspace.fs.readFile(u))
          .then((b) => kgpuKeysIn(Buffer.from(b).toString('utf8'), keys))
          .catch(() => [] as string[]),
      ),
    )
      .then((found) => {
        this.ignoredInFiles.clear();
        for (const k of found.flat()) this.ignoredInFiles.add(`kgpu.${k}`);
        if (this.ignoredInFiles.size) this.get(); // shows the notice
      })
      .catch(() => undefined);
  }

  /** The user's setting; else $KGPU_API_BASE; else the public default. http:// only to this machine. */
  private apiBase(explicit: string | undefined): string {
    const fromSetting = explicit !== undefined;
    const raw = (explicit ?? this.environment.KGPU_API_BASE ?? DEFAULT_API_BASE).trim();
    const r = checkApiBase(raw, fromSetting ? 'kgpu.apiBase' : '$KGPU_API_BASE');
    if (r.ok) return r.base;
    this.warnOnce('apiBase', vscode.l10n.t('kgpu: {0} Using {1}.', r.why, DEFAULT_API_BASE));
    return DEFAULT_API_BASE;
  }

  private sshHost(explicit: string | undefined): string {
    const raw = (explicit ?? this.environment.KGPU_SSH_HOST ?? 'ssh.kgpu.net').trim();
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(raw)) {
      this.warnOnce('sshHost', vscode.l10n.t('kgpu.sshHost "{0}" is not a host name; using ssh.kgpu.net.', String(raw)));
      return 'ssh.kgpu.net';
    }
    return raw;
  }

  private intIn(key: string, explicit: unknown, def: number, min: number, max: number, envDefault?: number): number {
    const v = explicit ?? envDefault ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.warnOnce(key, vscode.l10n.t('kgpu.{0} must be a whole number from {1} to {2}; using {3}.', key, min, max, def));
      return def;
    }
    return v;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    void vscode.window.showWarningMessage(message, vscode.l10n.t('Open Settings')).then((a) => {
      if (a) void vscode.commands.executeCommand('workbench.action.openSettings', `kgpu.${key}`);
    });
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
  }
}

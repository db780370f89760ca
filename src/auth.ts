import * as vscode from 'vscode';
import type { Settings } from './settings';

/**
 * The account token: stored in SecretStorage per API base (so a simulator's token never goes to
 * the real service and back), else `$KGPU_API_TOKEN` from the environment. Never in settings,
 * logs or output. A 401 marks the token rejected: the views fall back to the signed-out welcome
 * state until the user signs in again (or the stored token changes in another window).
 */
export type TokenSource = 'stored' | 'environment' | 'none';

export interface AuthState {
  signedIn: boolean;
  source: TokenSource;
  /** The token in use was refused with 401 (reissued on the dashboard, account not approved). */
  rejected: boolean;
}

const SECRET_PREFIX = 'kgpu.token:';

export class Auth implements vscode.Disposable {
  private stored: string | undefined;
  private rejectedToken: string | undefined;
  private loadedFor: string | undefined;
  /** After "Sign out", $KGPU_API_TOKEN is ignored for the rest of the session. */
  private environmentSuppressed = false;
  /** Bumped by signIn/signOut so a reload that read the secret before them cannot undo them. */
  private writes = 0;
  private readonly emitter = new vscode.EventEmitter<AuthState>();
  /** Fires when signed-in state, token or source changes. */
  readonly onDidChange = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [this.emitter];

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly settings: Settings,
    private readonly environment: NodeJS.ProcessEnv = process.env,
  ) {
    this.disposables.push(
      secrets.onDidChange((e) => {
        if (e.key === this.secretKey()) void this.reload();
      }),
      settings.onDidChangeConnection(() => void this.reload()),
    );
  }

  /** Load the stored token for the current API base (call once at activation and on settings change). */
  async reload(): Promise<void> {
    const key = this.secretKey();
    const writes = this.writes;
    const value = (await this.secrets.get(key)) || undefined;
    if (writes !== this.writes || key !== this.secretKey()) return; // superseded
    const before = this.snapshot();
    const beforeToken = this.token();
    this.stored = value;
    this.loadedFor = key;
    const after = this.snapshot();
    if (before.signedIn !== after.signedIn || before.source !== after.source || beforeToken !== this.token()) this.emitter.fire(after);
  }

  /** The token to send, or undefined (signed out / rejected). */
  token(): string | undefined {
    const t = this.candidate();
    return t && t !== this.rejectedToken ? t : undefined;
  }

  get state(): AuthState {
    return this.snapshot();
  }

  get signedIn(): boolean {
    return this.token() !== undefined;
  }

  get source(): TokenSource {
    if (this.stored) return 'stored';
    if (this.environmentToken()) return 'environment';
    return 'none';
  }

  /** Store a token that GET /me accepted. */
  async signIn(token: string): Promise<void> {
    this.writes++;
    this.rejectedToken = undefined;
    this.environmentSuppressed = false;
    this.stored = token;
    this.loadedFor = this.secretKey();
    await this.secrets.store(this.secretKey(), token);
    this.emitter.fire(this.snapshot());
  }

  /** Forget the stored token. An environment token is then also ignored for this session. */
  async signOut(): Promise<void> {
    this.writes++;
    this.stored = undefined;
    this.loadedFor = this.secretKey();
    this.environmentSuppressed = true; // "Sign out" must sign out, even with $KGPU_API_TOKEN set
    await this.secrets.delete(this.secretKey());
    this.emitter.fire(this.snapshot());
  }

  /** A request with `token` got 401. Returns true the first time for this token (show one message). */
  markRejected(token: string | undefined): boolean {
    if (!token || token !== this.candidate() || this.rejectedToken === token) return false;
    this.rejectedToken = token;
    this.emitter.fire(this.snapshot());
    return true;
  }

  private candidate(): string | undefined {
    if (this.loadedFor !== undefined && this.loadedFor !== this.secretKey()) return this.environmentToken();
    return this.stored ?? this.environmentToken();
  }

  /** $KGPU_API_TOKEN, used only when it belongs to the API base in use (or no base is given with it). */
  private environmentToken(): string | undefined {
    const t = this.environment.KGPU_API_TOKEN?.trim();
    if (!t || this.environmentSuppressed) return undefined;
    const envBase = this.environment.KGPU_API_BASE?.trim().replace(/\/+$/, '');
    if (envBase && envBase !== this.settings.get().apiBase) return undefined;
    return t;
  }

  private snapshot(): AuthState {
    const c = this.candidate();
    return { signedIn: this.signedIn, source: this.source, rejected: c !== undefined && c === this.rejectedToken };
  }

  private secretKey(): string {
    return SECRET_PREFIX + this.settings.get().apiBase;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

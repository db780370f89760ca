import * as vscode from 'vscode';
import { chooseToken, type TokenChoice, type TokenSource } from '../kgpu/api/token-choice';
import type { Settings } from './settings';

/**
 * The account token: stored in SecretStorage per API base (so a simulator's token never goes to
 * the real service and back), else `$KGPU_API_TOKEN` from the environment. Never in settings,
 * logs or output. A 401 marks the token rejected: the views fall back to the signed-out welcome
 * state until the user signs in again (or the stored token changes in another window).
 */

export interface AuthState {
  signedIn: boolean;
  source: TokenSource;
  /** The token in use was refused with 401 (reissued on the dashboard, account not approved). */
  rejected: boolean;
}

export type { TokenSource };

const SECRET_PREFIX = 'kgpu.token:';

export class Auth implements vscode.Disposable {
  /** The token read from SecretStorage and the API base it belongs to. */
  private stored: { token: string; apiBase: string } | undefined;
  private rejectedToken: string | undefined;
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
    const before = this.state;
    const beforeToken = this.token();
    this.stored = value === undefined ? undefined : { token: value, apiBase: key.slice(SECRET_PREFIX.length) };
    const after = this.state;
    if (
      before.signedIn !== after.signedIn ||
      before.source !== after.source ||
      before.rejected !== after.rejected ||
      beforeToken !== this.token()
    )
      this.emitter.fire(after);
  }

  /** The token to send, or undefined (signed out / rejected). */
  token(): string | undefined {
    return this.choice().token;
  }

  get state(): AuthState {
    const c = this.choice();
    return { signedIn: c.token !== undefined, source: c.source, rejected: c.rejected };
  }

  get signedIn(): boolean {
    return this.token() !== undefined;
  }

  get source(): TokenSource {
    return this.choice().source;
  }

  /** Store a token that GET /me accepted. */
  async signIn(token: string): Promise<void> {
    this.writes++;
    this.rejectedToken = undefined;
    this.environmentSuppressed = false;
    const apiBase = this.settings.get().apiBase;
    this.stored = { token, apiBase };
    await this.secrets.store(SECRET_PREFIX + apiBase, token);
    this.emitter.fire(this.state);
  }

  /** Forget the stored token. An environment token is then also ignored for this session. */
  async signOut(): Promise<void> {
    this.writes++;
    this.stored = undefined;
    this.environmentSuppressed = true; // "Sign out" must sign out, even with $KGPU_API_TOKEN set
    await this.secrets.delete(this.secretKey());
    this.emitter.fire(this.state);
  }

  /** A request with `token` got 401. Returns true the first time for this token (show one message). */
  markRejected(token: string | undefined): boolean {
    if (!token || token !== this.token()) return false;
    this.rejectedToken = token;
    this.emitter.fire(this.state);
    return true;
  }

  private choice(): TokenChoice {
    return chooseToken({
      apiBase: this.settings.get().apiBase,
      stored: this.stored,
      env: { KGPU_API_TOKEN: this.environment.KGPU_API_TOKEN, KGPU_API_BASE: this.environment.KGPU_API_BASE },
      environmentSuppressed: this.environmentSuppressed,
      rejectedToken: this.rejectedToken,
    });
  }

  private secretKey(): string {
    return SECRET_PREFIX + this.settings.get().apiBase;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

import * as vscode from 'vscode';
import { KgpuApiError } from '../kgpu/api/api-error';
import type { Me } from '../kgpu/api/api-types';
import { formatCredits } from '../kgpu/model/cost';
import { errorMessage } from '../kgpu/api/error-dedup';
import { createKgpuClient } from '../platform/lazy/rest-client';
import { editorProxySettings } from '../platform/proxy-settings';
import { checkApiBase, tokenDestination } from '../kgpu/model/setting-resolution';
import type { KgpuServices } from '../platform/services';

/**
 * kgpu: Sign In / Sign Out / Connect to a Simulator…. The token is checked with GET /me before it
 * is stored; it never goes to settings, logs or output. Arguments for tests/e2e:
 *   executeCommand('kgpu.signIn', { token })            — no prompt
 *   executeCommand('kgpu.trySimulator', { apiBase, sshHost, sshPort, token })
 */
export interface SignInArgs {
  token?: string;
}

export interface SimulatorArgs extends SignInArgs {
  apiBase?: string;
  sshHost?: string;
  sshPort?: number;
}

export function registerAuth(services: KgpuServices): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('kgpu.signIn', (args?: SignInArgs) => signIn(services, args)),
    vscode.commands.registerCommand('kgpu.signOut', () => signOut(services)),
    vscode.commands.registerCommand('kgpu.trySimulator', (args?: SimulatorArgs) => connectToSimulator(services, args)),
  );
}

/** GET /me with this token at this base. Throws KgpuApiError / KgpuNetworkError. */
async function verifyToken(apiBase: string, token: string): Promise<Me> {
  const client = createKgpuClient({
    apiBase,
    getToken: async () => token,
    timeoutMs: 15_000,
    retry: { maxAttempts: 2 },
    proxy: editorProxySettings(),
  });
  try {
    return await client.getMe();
  } finally {
    await client.close();
  }
}

function tokenValidation(v: string): string | undefined {
  const t = v.trim();
  if (t === '') return vscode.l10n.t('Paste your account token (from the dashboard at https://kgpu.net).');
  if (/\s/.test(t)) return vscode.l10n.t('A token has no spaces.');
  if (t.startsWith('kgpu_pod_')) return vscode.l10n.t('This is an in-pod token; sign in with your account token instead.');
  return undefined;
}

/** Returns true when signed in. */
async function signIn(services: KgpuServices, args?: SignInArgs): Promise<boolean> {
  const apiBase = services.settings.get().apiBase;
  const dest = tokenDestination(apiBase);
  let token = args?.token?.trim();
  if (!token) {
    token = (
      await vscode.window.showInputBox({
        // Not kgpu's own server: say plainly which host will receive the token.
        title: dest.official ? vscode.l10n.t('kgpu: Sign in') : vscode.l10n.t('kgpu: Sign in to {0} — not api.kgpu.net', dest.host),
        prompt: dest.official
          ? vscode.l10n.t(
              "Account token for {0} — copy it from the dashboard at https://kgpu.net (stored in VS Code's secret storage)",
              apiBase,
            )
          : vscode.l10n.t("{0} (Stored in VS Code's secret storage for {1} only.)", String(dest.warning), apiBase),
        password: true,
        ignoreFocusOut: true,
        placeHolder: 'kgpu_…', // l10n-ignore: the token's format
        validateInput: tokenValidation,
      })
    )?.trim();
    if (!token) return false;
  } else if (tokenValidation(token)) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', String(tokenValidation(token))));
    return false;
  }
  return verifyAndStore(services, apiBase, token);
}

async function verifyAndStore(services: KgpuServices, apiBase: string, token: string): Promise<boolean> {
  let me: Me;
  try {
    me = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: checking the token with {0}…', apiBase) },
      () => verifyToken(apiBase, token),
    );
  } catch (e) {
    const text =
      e instanceof KgpuApiError && e.status === 401
        ? e.requestId
          ? vscode.l10n.t(
              '{0} did not accept this token (wrong, reissued on the dashboard, or the account is not approved yet) — request {1}. Copy the current token from the dashboard and try again.',
              apiBase,
              e.requestId,
            )
          : vscode.l10n.t(
              '{0} did not accept this token (wrong, reissued on the dashboard, or the account is not approved yet). Copy the current token from the dashboard and try again.',
              apiBase,
            )
        : errorMessage(e);
    services.log.warn(`Sign-in failed: ${text}`);
    const tryAgain = vscode.l10n.t('Try Again');
    const openSettings = vscode.l10n.t('Open Settings');
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: sign-in failed — {0}', text), tryAgain, openSettings).then((again) => {
      if (again === tryAgain) void vscode.commands.executeCommand('kgpu.signIn');
      if (again === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'kgpu.apiBase');
    });
    return false;
  }
  await services.auth.signIn(token);
  services.log.info(`Signed in as ${me.email} (${me.role}) at ${apiBase}.`);
  void vscode.window.showInformationMessage(vscode.l10n.t('kgpu: signed in as {0} — {1}.', me.name || me.email, formatCredits(me.credits)));
  await services.pods.refresh();
  return true;
}

async function signOut(services: KgpuServices): Promise<void> {
  const fromEnvironment = services.auth.source === 'environment';
  await services.auth.signOut();
  services.log.info('Signed out.');
  void vscode.window.showInformationMessage(
    fromEnvironment
      ? vscode.l10n.t(
          "kgpu: signed out; the token was removed from VS Code's secret storage. $KGPU_API_TOKEN is ignored until you sign in again.",
        )
      : vscode.l10n.t("kgpu: signed out; the token was removed from VS Code's secret storage."),
  );
}

function validateApiBase(v: string): string | undefined {
  const r = checkApiBase(v, vscode.l10n.t('The API base'));
  return r.ok ? undefined : r.why;
}

function validatePort(v: string): string | undefined {
  return /^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : vscode.l10n.t('A port from 1 to 65535.');
}

/** Ask for a simulator's API base, SSH host/port and token (prefilled from $KGPU_*), check it, save the settings and sign in. */
async function connectToSimulator(services: KgpuServices, args: SimulatorArgs = {}): Promise<boolean> {
  const env = process.env;
  const title = vscode.l10n.t('kgpu: Connect to a Simulator');
  const interactive = !(args.apiBase && args.token);
  let apiBase = args.apiBase ?? env.KGPU_API_BASE ?? 'http://127.0.0.1:8080/v1';
  if (interactive) {
    const v = await vscode.window.showInputBox({
      title: `${title} (1/4)`,
      prompt: vscode.l10n.t('API base of the simulator (start one with `npm run sim`; it prints KGPU_API_BASE)'),
      value: apiBase,
      ignoreFocusOut: true,
      validateInput: validateApiBase,
    });
    if (v === undefined) return false;
    apiBase = v.trim();
  } else if (validateApiBase(apiBase)) {
    void vscode.window.showErrorMessage(
      vscode.l10n.t('kgpu: "{0}" is not a valid API base: {1}', apiBase, String(validateApiBase(apiBase))),
    );
    return false;
  }
  apiBase = apiBase.replace(/\/+$/, '');
  let sshHost = args.sshHost ?? env.KGPU_SSH_HOST ?? new URL(apiBase).hostname;
  let sshPort = String(args.sshPort ?? env.KGPU_SSH_PORT ?? '2222');
  let token = args.token ?? '';
  if (interactive) {
    const h = await vscode.window.showInputBox({
      title: `${title} (2/4)`,
      prompt: vscode.l10n.t('SSH bastion host of the simulator'),
      value: sshHost,
      ignoreFocusOut: true,
      validateInput: (v) => (/^[A-Za-z0-9.:[\]-]+$/.test(v.trim()) ? undefined : vscode.l10n.t('A host name or IP address.')),
    });
    if (h === undefined) return false;
    sshHost = h.trim();
    const p = await vscode.window.showInputBox({
      title: `${title} (3/4)`,
      prompt: vscode.l10n.t('SSH bastion port of the simulator'),
      value: sshPort,
      ignoreFocusOut: true,
      validateInput: validatePort,
    });
    if (p === undefined) return false;
    sshPort = p.trim();
    const t = await vscode.window.showInputBox({
      title: `${title} (4/4)`,
      prompt: vscode.l10n.t('Token the simulator printed (KGPU_API_TOKEN)'),
      value: env.KGPU_API_TOKEN ?? '',
      password: true,
      ignoreFocusOut: true,
      validateInput: tokenValidation,
    });
    if (t === undefined) return false;
    token = t.trim();
  }
  if (validatePort(sshPort)) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: SSH port "{0}" is not valid.', sshPort));
    return false;
  }
  // Check before changing anything, so a typo does not leave the settings pointing nowhere.
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('kgpu: checking {0}…', apiBase) },
      () => verifyToken(apiBase, token),
    );
  } catch (e) {
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: cannot use the simulator at {0} — {1}', apiBase, errorMessage(e)));
    return false;
  }
  const config = vscode.workspace.getConfiguration('kgpu');
  await config.update('apiBase', apiBase, vscode.ConfigurationTarget.Global);
  await config.update('sshHost', sshHost, vscode.ConfigurationTarget.Global);
  await config.update('sshPort', Number(sshPort), vscode.ConfigurationTarget.Global);
  return verifyAndStore(services, apiBase, token);
}

// code-server (VS Code 1.139 for the web) in a scratch profile: config, user data, extensions —
// nothing touches ~/.config/code-server or the user's VS Code.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGroup, waitFor } from './processes.mjs';

/** User settings for every test/demo profile: light theme, no welcome page, tips, AI/chat panes
 *  or update prompts — a quiet workbench that screenshots well and behaves deterministically. */
export const PROFILE_SETTINGS = {
  'workbench.colorTheme': 'Default Light Modern',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'window.commandCenter': false,
  'editor.minimap.enabled': false,
  'files.autoSave': 'off',
  // DOM renderer: the terminal's text is in the page (.xterm-rows), so journeys can read it.
  'terminal.integrated.gpuAcceleration': 'off',
  'remote.autoForwardPorts': false,
};

/** Creates the scratch profile folders under `dir` and writes the user settings. */
export function prepareProfile(dir, settings = {}) {
  const p = {
    dir,
    config: join(dir, 'config.yaml'),
    userDataDir: join(dir, 'user-data'),
    extensionsDir: join(dir, 'extensions'),
    log: join(dir, 'code-server.log'),
  };
  mkdirSync(join(p.userDataDir, 'User'), { recursive: true });
  mkdirSync(p.extensionsDir, { recursive: true });
  writeFileSync(p.config, 'auth: none\ncert: false\n');
  writeFileSync(join(p.userDataDir, 'User', 'settings.json'), `${JSON.stringify({ ...PROFILE_SETTINGS, ...settings }, null, 2)}\n`);
  return p;
}

function profileArgs(profile) {
  return ['--config', profile.config, '--user-data-dir', profile.userDataDir, '--extensions-dir', profile.extensionsDir];
}

/** Installs a VSIX into the profile (what a user gets from the Marketplace). */
export function installVsix(paths, profile, vsix) {
  const r = spawnSync(paths.node, [paths.codeServer, ...profileArgs(profile), '--force', '--install-extension', vsix], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0 || /Failed|Error/i.test(r.stderr ?? '')) {
    throw new Error(`code-server --install-extension ${vsix} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
}

/**
 * Starts code-server on a loopback port (0 = any free one) with the profile, opening `workspace`.
 * `env` is code-server's environment — and so the environment of the extension host.
 * `workspaceTrust`: keep VS Code's workspace trust on (folders open in Restricted Mode until
 * trusted; the profile should set security.workspace.trust.enabled); default off.
 * `cleanEnv`: drop any KGPU_* variable this process has, so only `env` decides what the extension sees.
 * @returns {Promise<{ url: string, folderUrl: string, pid: number, stop: () => Promise<void>, logTail: (n?: number) => string, log: () => string }>}
 */
export async function startCodeServer({
  paths,
  profile,
  workspace,
  env = {},
  port = 0,
  timeoutMs = 30_000,
  workspaceTrust = false,
  cleanEnv = false,
}) {
  const args = [
    paths.codeServer,
    ...profileArgs(profile),
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    ...(workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--ignore-last-opened',
    workspace,
  ];
  const base = cleanEnv ? Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KGPU_'))) : process.env;
  const proc = startGroup(paths.node, args, {
    env: { ...base, PATH: `${join(paths.nodeDir, 'bin')}:${process.env.PATH}`, ...env },
    cwd: profile.dir,
    logFile: profile.log,
  });
  try {
    const url = await waitFor(
      () => {
        const m = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(readFileSync(profile.log, 'utf8'));
        return m?.[1];
      },
      { timeoutMs, what: 'code-server to listen' },
    );
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs, what: 'code-server /healthz' });
    return {
      url,
      folderUrl: `${url}/?folder=${encodeURIComponent(workspace)}`,
      pid: proc.pid,
      stop: () => proc.stop(),
      logTail: (n) => proc.logTail(n),
      /** The whole log so far (to look for what happened after a point). */
      log: () => readFileSync(profile.log, 'utf8'),
    };
  } catch (e) {
    await proc.stop();
    throw new Error(`${e.message}\n--- code-server log ---\n${proc.logTail()}`);
  }
}

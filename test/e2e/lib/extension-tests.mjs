// Runs the integration suite inside code-server's extension host — the web equivalent of
// `code --extensionDevelopmentPath=… --extensionTestsPath=…`.
//
// The workbench reads extensionDevelopmentPath / extensionTestsPath / extensionEnvironment from
// the URL's `payload` parameter, but a built workbench honours it only with
// developmentOptions.enableSmokeTestDriver, which code-server's CLI does not accept; an init
// script sets it in the embedded configuration before the workbench reads it. The workbench
// reports the end of the tests by calling window.codeAutomationExit(code).
import { newPage, waitForWorkbench } from './browser.mjs';

/**
 * @param {{ browser: import('playwright-core').Browser, baseUrl: string, workspace: string,
 *   devPath: string, testsPath: string, env: Record<string,string>, timeoutMs: number,
 *   onLine?: (line: string) => void, serverLog?: () => string }} o
 *   serverLog: code-server's log, watched for the extension host dying (no exit call would come)
 * @returns {Promise<{ exitCode: number | 'timeout' | 'extension host died', page: import('playwright-core').Page, close: () => Promise<void> }>}
 */
export async function runExtensionTests({
  browser,
  baseUrl,
  workspace,
  devPath,
  testsPath,
  env,
  timeoutMs,
  onLine = console.log,
  serverLog,
}) {
  const logStart = serverLog?.().length ?? 0;
  const { context, page } = await newPage(browser);
  const authority = new URL(baseUrl).host;
  const remote = (p) => `vscode-remote://${authority}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(devPath)],
    ['extensionTestsPath', remote(testsPath)],
    ['extensionEnvironment', JSON.stringify(env)],
  ];
  let exit;
  const exited = new Promise((resolve) => {
    exit = resolve;
  });
  await page.exposeFunction('codeAutomationExit', (code) => {
    exit(code);
  });
  page.on('console', (m) => {
    for (const line of m.text().split('\n')) {
      // Extension-host output arrives with a " INFO color: #33f " style prefix; the suite's own
      // report lines start with [kgpu-e2e].
      const at = line.indexOf('[kgpu-e2e]');
      if (at >= 0) onLine(line.slice(at));
      else if (process.env.KGPU_E2E_VERBOSE) onLine(`[workbench] ${line}`);
    }
  });
  await page.addInitScript(() => {
    const original = Element.prototype.getAttribute;
    Element.prototype.getAttribute = function (name) {
      const value = original.call(this, name);
      if (name !== 'data-settings' || this.id !== 'vscode-workbench-web-configuration' || !value) return value;
      const config = JSON.parse(value);
      config.developmentOptions = { ...config.developmentOptions, enableSmokeTestDriver: true };
      return JSON.stringify(config);
    };
  });
  // A generous bound: at load average 25-30 on 2 cores the workbench page took over 20 s (the default) to load.
  await page.goto(`${baseUrl}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`, {
    timeout: 180_000,
  });
  await waitForWorkbench(page);
  let timer;
  let watcher;
  const exitCode = await Promise.race([
    exited,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    }),
    new Promise((resolve) => {
      if (!serverLog) return;
      watcher = setInterval(() => {
        const since = serverLog().slice(logStart);
        if (/Extension Host Process exited with code: (?!0,)\S+|Extension Host Process exited with code: \S+ signal: SIG/.test(since))
          resolve('extension host died');
      }, 1000);
    }),
  ]);
  clearTimeout(timer);
  clearInterval(watcher);
  return { exitCode, page, close: () => context.close() };
}

// Debian's chromium driven by playwright-core (no browser download), headless, light scheme,
// 1400×900 — the size of the README's screenshots.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const VIEWPORT = { width: 1400, height: 900 };
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** @param {{ executablePath: string, scratchDir: string }} o */
export async function launchBrowser({ executablePath, scratchDir }) {
  const xdg = join(scratchDir, 'xdg');
  mkdirSync(xdg, { recursive: true });
  return chromium.launch({
    executablePath,
    args: CHROMIUM_ARGS,
    env: { ...process.env, XDG_CONFIG_HOME: xdg, XDG_CACHE_HOME: join(xdg, 'cache') },
    timeout: 30_000,
  });
}

/** A fresh browser context (own storage: secrets, workbench state) with one page. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light', deviceScaleFactor: 1 });
  context.setDefaultTimeout(20_000);
  // Loading the workbench (≈ 10 MB of scripts) took over 20 s at load average 20 on 2 cores; a
  // bound against a hang, not a speed goal.
  context.setDefaultNavigationTimeout(120_000);
  const page = await context.newPage();
  return { context, page };
}

/** The workbench is usable once the activity bar is rendered. */
export async function waitForWorkbench(page, timeoutMs = 60_000) {
  await page.waitForSelector('.monaco-workbench .part.activitybar', { timeout: timeoutMs });
}

